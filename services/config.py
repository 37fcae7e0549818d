"""Effective configuration: defaults < TOML file < GREENWATCH_* environment variables.

Only entry points (the CLI) build a `Settings`; services receive the parts they need as arguments.
Nested keys use `__` in environment variables: `GREENWATCH_BUS__KIND=kafka`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently ignored


class BusSettings(_Section):
    kind: Literal["embedded", "kafka"] = "embedded"
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "gw."
    partitions: int = Field(default=4, ge=1, description="partitions per topic when greenwatch creates them")
    session_timeout_s: float = Field(default=45.0, ge=1, description="a crashed member's partitions wait this long "
                                     "before the group hands them on (Kafka consumer session.timeout.ms)")
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None


class StoreSettings(_Section):
    kind: Literal["sqlite", "kafka"] = "sqlite"


# Ready-made STAC sources: name -> (STAC API, collection). The EOPF Sentinel Zarr Samples Service
# serves EOPF Zarr v2 (`sentinel-2-l2a`) and v3 (`sentinel-2-l2a-zarr3`); the Copernicus Data Space
# Ecosystem STAC serves the same products as SAFE/JP2, which the watcher maps but dead-letters
# ("only SAFE/JP2 files") until a SAFE reader exists.
SOURCE_PRESETS: dict[str, tuple[str, str]] = {
    "eopf-sentinel-2-l2a": ("https://stac.core.eopf.eodc.eu", "sentinel-2-l2a"),
    "eopf-sentinel-2-l2a-zarr3": ("https://stac.core.eopf.eodc.eu", "sentinel-2-l2a-zarr3"),
    "cdse-sentinel-2-l2a": ("https://stac.dataspace.copernicus.eu/v1", "sentinel-2-l2a"),
}


class SourceSettings(_Section):
    preset: Literal["eopf-sentinel-2-l2a", "eopf-sentinel-2-l2a-zarr3", "cdse-sentinel-2-l2a"] | None = None
    url: str = Field(default="", description="STAC API root; empty: the preset's")
    collection: str = Field(default="", description="empty: the preset's")
    product_kind: Literal["s2-l2a-eopf-zarr", "clms-tcd", "clms-clcplus"] = "s2-l2a-eopf-zarr"
    max_cloud_cover: float | None = Field(default=60.0, ge=0, le=100, description="applied to eo:cloud_cover by "
                                          "the watcher (not sent to the server); unset: no limit")
    start: str = Field(default="2024-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    spatial: Literal["area-bbox", "area-hull", "none"] = Field(
        default="area-bbox", description="search the area set's bounding box, its convex hull, or everywhere")
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4, description="lon/lat; wins over spatial")

    @model_validator(mode="after")
    def _resolve_preset(self) -> SourceSettings:
        if self.preset is not None:
            url, collection = SOURCE_PRESETS[self.preset]
            self.url, self.collection = self.url or url, self.collection or collection
        if not self.url or not self.collection:
            raise ValueError("a STAC source needs `preset`, or both `url` and `collection`")
        return self


class WatchSettings(_Section):
    sources: list[SourceSettings] = Field(
        default_factory=lambda: [SourceSettings(preset="eopf-sentinel-2-l2a-zarr3")]
    )
    poll_interval_s: float = 600.0
    overlap_days: float = Field(default=3.0, ge=0, description="each poll reaches back this far (late ingestion)")
    page_size: int = Field(default=100, ge=1, le=10_000)
    backfill_slice_days: int = Field(default=7, ge=1, description="a backfill records progress after each slice")
    timeout_s: float = Field(default=60.0, gt=0, description="a STAC request stalled this long is retried")
    max_attempts: int = Field(default=6, ge=1, description="tries per STAC request (5xx, 429, timeouts)")
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_cap_s: float = Field(default=60.0, ge=0)
    max_retry_after_s: float = Field(default=600.0, ge=0, description="longest 429 Retry-After honoured")


class WorkSettings(_Section):
    max_attempts: int = Field(default=3, ge=1, description="tries before a message is dead-lettered")
    allowed_href_schemes: list[str] = Field(default_factory=lambda: ["file", "https", "s3"])
    allowed_href_hosts: list[str] = Field(
        default_factory=lambda: ["*.eodc.eu", "*.dataspace.copernicus.eu", "*.cloud.ovh.net"],
        description="hosts (or *.suffix) a worker may read products from over the network; file paths have none")
    read_threads: int = Field(default=0, ge=0, description="threads decoding chunks; 0: one per core")
    prefetch_tasks: int = Field(default=2, ge=0, description="tile tasks read ahead of the one being classified")
    kernel_threads: int = Field(default=1, ge=0, description="Numba threads per kernel call; 0: all cores (the "
                                "read threads keep the cores busy: more kernel threads oversubscribe them)")
    write_maps: bool = Field(default=True, description="write class maps and canopy fraction to `maps_path`")
    maps_path: str = Field(default="", description="results Zarr root (path or fsspec URL); empty: <data_dir>/maps")
    read_timeout_s: float = Field(default=60.0, gt=0, description="a product read (https, s3) stalled this long "
                                  "fails and the task is retried, instead of hanging the worker")


class AreaSettings(_Section):
    path: str = Field(default="", description="GeoJSON/GeoPackage of the areas; empty: the built-in set")
    id_property: str = "gemeentecode"
    name_property: str = "gemeentenaam"
    name: str = "nl-gemeenten-2023"
    urban_centres_path: str = Field(default="", description="GeoJSON (lon/lat)/GeoPackage of the urban centres and "
                                    "urban clusters (Degree of Urbanisation): the Art. 8(1) exclusion is then "
                                    "decided on the areas' parts inside them; empty: not configured (whole-area "
                                    "approximation)")
    urban_centres_layer: str = Field(default="", description="GeoPackage layer; empty: the only one")
    urban_centres_class_property: str = Field(default="", description="keep only features whose property has one "
                                              "of `urban_centres_classes` (a GHSL-SMOD-derived layer); empty: all")
    urban_centres_classes: list[int] = Field(default_factory=lambda: [30, 23, 22, 21], min_length=1,
                                             description="SMOD classes: 30 urban centre, 23/22/21 urban clusters")


SeriesName = Literal["official", "sentinel-2 (calibrated)", "sentinel-2"]
_SERIES: tuple[SeriesName, ...] = ("official", "sentinel-2 (calibrated)", "sentinel-2")


class WebhookSettings(_Section):
    """Optional delivery of every alert to an HTTP endpoint, signed with HMAC-SHA256."""

    url: str | None = Field(default=None, description="unset: no webhook delivery")
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key; required with a url")
    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.5, ge=0, description="first retry delay, doubled each time")
    max_backoff_s: float = Field(default=30.0, ge=0)
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _secret_with_url(self) -> WebhookSettings:
        if self.url and self.secret is None:
            raise ValueError("trend.webhook.secret is required when trend.webhook.url is set (deliveries are signed)")
        return self


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
    z_at_risk: float = Field(default=1.0, ge=0, description="an at-risk loss must exceed this many standard errors")
    no_net_loss_until: int = Field(default=2030, description="last year of Art. 8(1) no net loss; the trend follows")
    trend_period_years: int = Field(default=6, ge=1, description="the increasing trend is measured every N years")
    mk_alpha: float = Field(default=0.05, gt=0, lt=1, description="Mann-Kendall early warning significance")
    mk_min_years: int = Field(default=5, ge=3, description="annual values the Mann-Kendall test needs")
    mk_from_year: int | None = Field(default=None, description="first year of the Mann-Kendall test (unset: baseline)")
    exclusion: bool = Field(default=False, description="apply the optional Art. 8(1) exclusion of very green areas")
    exclusion_green_pct: float = Field(default=45.0, ge=0, le=100)
    exclusion_canopy_pct: float = Field(default=10.0, ge=0, le=100)
    satisfactory_green_pct: float | None = Field(default=None, ge=0, le=100, description="Art. 14(5); unset: none")
    satisfactory_canopy_pct: float | None = Field(default=None, ge=0, le=100, description="Art. 14(5); unset: none")
    data_gap_months: float = Field(default=12.0, gt=0, description="no usable observation for longer: data-gap alert")
    series_priority: list[SeriesName] = Field(
        default_factory=lambda: list(_SERIES), min_length=1,
        description="the series a state rests on: the first that can be judged (official first)")
    national_min_area_fraction: float = Field(
        default=1.0, gt=0, le=1, description="the national state judges a year once this share of the areas with a "
        "baseline have it; until then it rests on the latest complete year")
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8765
    token: SecretStr | None = Field(default=None, description="unset: the API is read-only; set: POST routes "
                                    "accept `Authorization: Bearer <token>`")


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    watch_port: int = 9101
    work_port: int = 9102
    merge_port: int = 9103
    trend_port: int = 9104
    api_port: int = 9105
    composite_port: int = 9106
    run_port: int = 9100


class CompositeSettings(_Section):
    """The per-pixel season composite (issue 6). Its window is the trend's season (`trend.season_*_month`)."""

    enabled: bool = Field(default=True, description="composite each tile-year's class maps when a season scene is "
                          "complete (needs work.write_maps); off: Sentinel-2 annual values stay area-level medians")
    min_valid_dates: int = Field(default=3, ge=1, description="valid (clear) dates a pixel needs to count in the "
                                 "composite: with 3 a single mis-masked date can neither decide a class alone nor "
                                 "leave a 1-1 tie (broken by class code, not evidence); capped at half the "
                                 "season's dates, rounded up, so that a sparse season still covers its areas")
    kernel_threads: int = Field(default=0, ge=0, description="Numba threads of the composite kernels; 0: all cores")
    read_threads: int = Field(default=4, ge=1, description="threads reading the scenes' map chunks")


class ClmsFileSettings(_Section):
    """One delivered CLMS GeoTIFF/COG (a file listing instead of a STAC catalogue)."""

    path: str
    product_kind: Literal["clms-tcd", "clms-clcplus"]
    year: int = Field(ge=1990, le=2100, description="the layer's reference year")


class ClmsSettings(_Section):
    """The official series (CLMS Tree Cover Density, CLC+ Backbone) and its reconciliation (issue 7)."""

    enabled: bool = Field(default=True, description="run the official-series services in `run` and `demo`")
    zarr_root: str = Field(default="", description="ingested layers (folder or fsspec URL); empty: <data_dir>/clms")
    chunk: int = Field(default=1000, ge=64, le=10_000, description="ingested Zarr chunk edge (pixels): one task")
    tcd_tree_threshold: int = Field(default=10, ge=0, le=100, description="TCD % from which a pixel is a tree")
    calibration: Literal["offset", "ratio"] = Field(
        default="offset", description="Sentinel-2 -> official model for 1-3 overlapping years (4+: linear)")
    files: list[ClmsFileSettings] = Field(default_factory=list, description="`greenwatch clms ingest` publishes these")


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
    clms: ClmsSettings = Field(default_factory=ClmsSettings)
    composite: CompositeSettings = Field(default_factory=CompositeSettings)

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
