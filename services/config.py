"""Effective configuration: defaults < TOML file < GREENWATCH_* environment variables.

Only entry points (the CLI) build a `Settings`; services receive the parts they need as arguments.
Nested keys use `__` in environment variables: `GREENWATCH_BUS__KIND=kafka`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently ignored


class BusSettings(_Section):
    kind: Literal["embedded", "kafka"] = "embedded"
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "gw."
    partitions: int = Field(default=4, ge=1, description="partitions per topic when greenwatch creates them")
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None


class StoreSettings(_Section):
    kind: Literal["sqlite", "kafka"] = "sqlite"


class SourceSettings(_Section):
    url: str
    collection: str
    product_kind: Literal["s2-l2a-eopf-zarr", "clms-tcd", "clms-clcplus"] = "s2-l2a-eopf-zarr"
    max_cloud_cover: float = 60.0
    start: str = "2024-01-01"


class WatchSettings(_Section):
    sources: list[SourceSettings] = Field(
        default_factory=lambda: [
            SourceSettings(url="https://stac.core.eopf.eodc.eu", collection="sentinel-2-l2a-zarr3"),
        ]
    )
    poll_interval_s: float = 600.0
    overlap_days: float = 3.0
    page_size: int = 100


class WorkSettings(_Section):
    max_attempts: int = 3
    allowed_href_schemes: list[str] = Field(default_factory=lambda: ["file", "https", "s3"])


class AreaSettings(_Section):
    path: str = Field(default="", description="GeoJSON/GeoPackage of the areas; empty: the built-in set")
    id_property: str = "gemeentecode"
    name_property: str = "gemeentenaam"
    name: str = "nl-gemeenten-2023"


class TrendSettings(_Section):
    baseline_year: int = 2024
    min_valid_fraction: float = Field(default=0.6, ge=0, le=1)
    season_start_month: int = Field(default=5, ge=1, le=12)
    season_end_month: int = Field(default=9, ge=1, le=12)
    min_observations_per_year: int = Field(default=2, ge=1, description="usable observations an annual value needs")
    at_risk_pct: float = Field(default=1.0, ge=0, description="a loss beyond this (in %) is at-risk")
    net_loss_pct: float = Field(default=3.0, ge=0, description="a loss beyond this (in %) of the baseline is net-loss")
    canopy_loss_alert_pct: float = Field(default=10.0, ge=0)
    z_net_loss: float = Field(default=2.0, ge=0, description="a loss must exceed this many standard errors")


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8765
    token: SecretStr | None = None


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    watch_port: int = 9101
    work_port: int = 9102
    merge_port: int = 9103
    trend_port: int = 9104
    api_port: int = 9105
    run_port: int = 9100


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GREENWATCH_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("var")
    bus: BusSettings = Field(default_factory=BusSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    work: WorkSettings = Field(default_factory=WorkSettings)
    areas: AreaSettings = Field(default_factory=AreaSettings)
    trend: TrendSettings = Field(default_factory=TrendSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the TOML file, passed by `load_settings`) < environment
        return (env_settings, init_settings)


def load_settings(path: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from an optional TOML file, overridden by GREENWATCH_* variables of `env`
    (default: the process environment). The file may also be named by GREENWATCH_CONFIG."""
    environ = os.environ if env is None else env
    if path is None and environ.get("GREENWATCH_CONFIG"):
        path = Path(environ["GREENWATCH_CONFIG"])
    file_values: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as fh:
            file_values = tomllib.load(fh)
    if env is None:
        return Settings(**file_values)
    saved = dict(os.environ)
    try:
        for k in [k for k in os.environ if k.startswith("GREENWATCH_")]:
            del os.environ[k]
        os.environ.update({k: v for k, v in env.items() if k.startswith("GREENWATCH_")})
        return Settings(**file_values)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def effective_toml(settings: Settings) -> str:
    """The effective configuration as TOML text, secrets masked (for `greenwatch config show`)."""
    data = settings.model_dump(mode="json")
    return _to_toml(data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list) and all(not isinstance(i, dict) for i in v):
        return "[" + ", ".join(_toml_value(i) for i in v) + "]"
    raise TypeError(v)


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for k, v in data.items():
        if v is None:
            lines.append(f"# {k} = (unset)")
        elif isinstance(v, dict) or (isinstance(v, list) and v and all(isinstance(i, dict) for i in v)):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = f"{prefix}{k}"
        if isinstance(v, list):
            for item in v:
                out += f"\n\n[[{name}]]\n" + _to_toml(item, name + ".")
        else:
            out += f"\n\n[{name}]\n" + _to_toml(v, name + ".")
    return out.strip() + "\n"
