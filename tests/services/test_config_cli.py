"""Configuration precedence (defaults < TOML < GREENWATCH_* env), `config show`, metrics endpoint."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pydantic import ValidationError

from greenwatch.services import metrics
from greenwatch.services.config import effective_toml, load_settings


def test_toml_then_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text('data_dir = "/srv/gw"\n[bus]\nkind = "kafka"\ntopic_prefix = "nl."\n'
                   '[trend]\nbaseline_year = 2024\nnet_loss_pct = 2.5\n')
    s = load_settings(cfg, env={"GREENWATCH_BUS__TOPIC_PREFIX": "eu.", "GREENWATCH_TREND__NET_LOSS_PCT": "4"})
    assert (s.bus.kind, s.bus.topic_prefix, s.trend.net_loss_pct, str(s.data_dir)) == ("kafka", "eu.", 4.0, "/srv/gw")
    assert load_settings(env={}).bus.kind == "embedded"


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="kind"):
        load_settings(env={"GREENWATCH_BUS__KIND": "rabbitmq"})
    cfg = tmp_path / "gw.toml"
    cfg.write_text("[trend]\nbaseline_yaer = 2024\n")
    with pytest.raises(ValidationError, match="baseline_yaer"):
        load_settings(cfg, env={})


def test_config_show_masks_secrets_and_reflects_the_environment(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GREENWATCH_API__TOKEN": "s3cret-token", "GREENWATCH_BUS__PARTITIONS": "12"}
    out = subprocess.run([sys.executable, "-m", "greenwatch.services.cli", "config", "show"], env=env,
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "partitions = 12" in out and "s3cret-token" not in out and 'token = "**********"' in out
    assert "s3cret" not in effective_toml(load_settings(env={"GREENWATCH_BUS__SASL_PASSWORD": "s3cret"}))


def test_metrics_are_served_over_http() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.MESSAGES_IN.labels("test", "t").inc()
    metrics.MESSAGES_OUT.labels("test", "t").inc()
    metrics.MESSAGES_FAILED.labels("test", "t", "dlq").inc()
    metrics.HANDLER_SECONDS.labels("test").observe(0.01)
    metrics.CONSUMER_LAG.labels("test").set(3)
    metrics.serve(port)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for name in ("greenwatch_messages_in_total", "greenwatch_messages_out_total", "greenwatch_messages_failed_total",
                 "greenwatch_handler_seconds_bucket", "greenwatch_consumer_lag"):
        assert name in body
    assert 'greenwatch_messages_in_total{service="test",topic="t"}' in body
    assert 'greenwatch_consumer_lag{service="test"} 3.0' in body
