"""The urban centres and clusters layer and the national completeness threshold in the configuration:
shown by `greenwatch config show`, carried into the rules, bad values refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from greenwatch.services.app import rules_from
from greenwatch.services.config import load_settings


def test_config_show_names_the_ucc_layer_and_the_completeness_threshold(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GREENWATCH_AREAS__URBAN_CENTRES_PATH": "/data/ucc.gpkg",
           "GREENWATCH_AREAS__URBAN_CENTRES_CLASS_PROPERTY": "smod",
           "GREENWATCH_TREND__NATIONAL_MIN_AREA_FRACTION": "0.9"}
    out = subprocess.run([sys.executable, "-m", "greenwatch.services.cli", "config", "show"], env=env,
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    for line in ('urban_centres_path = "/data/ucc.gpkg"', 'urban_centres_class_property = "smod"',
                 "urban_centres_classes = [30, 23, 22, 21]", "national_min_area_fraction = 0.9"):
        assert line in out
    default = load_settings(env={})
    assert default.areas.urban_centres_path == "" and default.trend.national_min_area_fraction == 1.0
    assert (rules_from(default).ucc_layer, rules_from(default).national_min_area_fraction) == (False, 1.0)
    rules = rules_from(load_settings(env={k: v for k, v in env.items() if k != "PATH"}))
    assert (rules.ucc_layer, rules.national_min_area_fraction) == (True, 0.9)


@pytest.mark.parametrize(("key", "value", "field"), [
    ("GREENWATCH_TREND__NATIONAL_MIN_AREA_FRACTION", "0", "national_min_area_fraction"),
    ("GREENWATCH_TREND__NATIONAL_MIN_AREA_FRACTION", "1.5", "national_min_area_fraction"),
    ("GREENWATCH_AREAS__URBAN_CENTRES_CLASSES", "[]", "urban_centres_classes"),
])
def test_bad_values_are_refused(key: str, value: str, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        load_settings(env={key: value})
