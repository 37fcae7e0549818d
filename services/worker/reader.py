"""Read Sentinel-2 L2A products in ESA's EOPF Zarr layout (Zarr v2 or v3) window by window.

`open_product(href)` opens a local path, `file://`, `https://` or `s3://` store (fsspec storage
options passed through), consolidated or not, and returns an `EopfProduct`. Its `read_window`
reads only the chunks that intersect the window and returns b03, b04, b08 (uint16 DN, 10 m) and
the SCL (uint8, 20 m) covering the same ground.

A chunk that is missing from the store raises `ProductReadError` instead of silently reading as
the fill value (EOPF writers store every chunk), and so does a chunk the codec cannot decode.
Codecs without checksums (the real products' zstd/blosc) cannot catch every flipped bit; a chunk
that decodes to the right size with wrong values is not detectable. Network faults are not
wrapped: they propagate as they are (and count as transient).

`transform` is the 10 m affine in rasterio order (a, b, c, d, e, f): x = a*col + b*row + c,
y = d*col + e*row + f (GDAL's GeoTransform is (c, a, b, f, d, e)). It comes from the 10 m band's
`proj:transform` (v2), else from the x/y coordinate arrays (pixel centres; v3, whose root
`proj:transform` is the 60 m grid's), else from the root `proj:bbox` in metres.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncGenerator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import numpy as np
import zarr
from zarr.abc.buffer import Buffer
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import BufferPrototype
from zarr.storage import FsspecStore, LocalStore, WrapperStore

from greenwatch.services.errors import PermanentError

R10M = "measurements/reflectance/r10m"
SCL_PATH = "conditions/mask/l2a_classification/r20m/scl"
Window = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ArraySpec:
    """An array the reader relies on: dtype (Zarr v2 spelling) and the attributes it reads in v2."""

    path: str
    dtype: str
    v2_attrs: tuple[str, ...] = ()


# Checked against the real product metadata in tests/worker/test_reader.py.
REQUIRED_ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec(
        f"{R10M}/b03", "<u2", ("scale_factor", "add_offset", "valid_min", "valid_max", "proj:epsg", "proj:transform")
    ),
    ArraySpec(f"{R10M}/b04", "<u2", ("scale_factor", "add_offset")),
    ArraySpec(f"{R10M}/b08", "<u2", ("scale_factor", "add_offset")),
    ArraySpec(SCL_PATH, "|u1"),
    ArraySpec(f"{R10M}/x", "<i8"),
    ArraySpec(f"{R10M}/y", "<i8"),
)
ROOT_ATTRS: tuple[str, ...] = ("stac_discovery",)  # properties: datetime, proj:*, processing:version...
_METADATA_KEYS = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


class ProductReadError(PermanentError):
    """The product (or one chunk of it) cannot be read and never will be: dead-letter, don't retry."""

    def __init__(
        self, message: str, *, path: str, chunk: tuple[int, ...] | None = None, key: str | None = None
    ) -> None:
        where = f" (chunk {chunk})" if chunk is not None else ""
        super().__init__(f"{path}{where}: {message}")
        self.path, self.chunk, self.key = path, chunk, key


class ProductNotFoundError(ProductReadError, FileNotFoundError):
    """There is no Zarr store (or no Zarr group) at the href."""


@dataclass(frozen=True)
class Radiometry:
    """How DN map to reflectance: reflectance = DN * scale_factor + add_offset (None: attribute absent)."""

    scale_factor: float | None
    add_offset: float | None
    fill_value: int = 0
    valid_min: int | None = None
    valid_max: int | None = None

    def offset(self, processing_baseline: str | None) -> float:
        """`add_offset`, or when absent the ESA rule: -0.1 for baseline >= 04.00, else 0."""
        if self.add_offset is not None:
            return self.add_offset
        return -0.1 if processing_baseline is not None and processing_baseline >= "04.00" else 0.0


@runtime_checkable
class ProductReader(Protocol):
    """What the worker needs from a product; `EopfProduct` reads Zarr, `ArrayProduct` holds arrays."""

    @property
    def crs(self) -> str: ...
    @property
    def transform(self) -> tuple[float, float, float, float, float, float]: ...
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def chunks(self) -> tuple[int, int]: ...
    @property
    def processing_baseline(self) -> str | None: ...
    @property
    def radiometry(self) -> Radiometry: ...
    @property
    def scale_factor(self) -> float | None: ...
    @property
    def add_offset(self) -> float | None: ...
    @property
    def datetime(self) -> datetime | None: ...
    def read_window(self, row: int, col: int, height: int, width: int) -> Window: ...


def _check_window(shape: tuple[int, int], row: int, col: int, height: int, width: int) -> None:
    if row % 2 or col % 2:
        raise ValueError(f"window offset must be even (20 m aligned), got row={row} col={col}")
    if height < 1 or width < 1 or row < 0 or col < 0 or row + height > shape[0] or col + width > shape[1]:
        raise ValueError(f"window ({row}, {col}, {height}, {width}) is not inside the product of shape {shape}")


def _scl_window(row: int, col: int, height: int, width: int) -> tuple[slice, slice]:
    return slice(row // 2, (row + height + 1) // 2), slice(col // 2, (col + width + 1) // 2)


@dataclass(frozen=True)
class ArrayProduct:
    """An in-memory product (for tests and tools): full 10 m bands and the 20 m SCL."""

    b03: np.ndarray
    b04: np.ndarray
    b08: np.ndarray
    scl: np.ndarray
    crs: str = "EPSG:32631"
    transform: tuple[float, float, float, float, float, float] = (10.0, 0.0, 600000.0, 0.0, -10.0, 5800020.0)
    chunks: tuple[int, int] = (1830, 1830)
    processing_baseline: str | None = "05.11"
    radiometry: Radiometry = field(default_factory=lambda: Radiometry(0.0001, -0.1, 0, 1, 65535))
    datetime: datetime | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.b03.shape[0]), int(self.b03.shape[1]))

    @property
    def scale_factor(self) -> float | None:
        return self.radiometry.scale_factor

    @property
    def add_offset(self) -> float | None:
        return self.radiometry.add_offset

    def read_window(self, row: int, col: int, height: int, width: int) -> Window:
        _check_window(self.shape, row, col, height, width)
        w = (slice(row, row + height), slice(col, col + width))
        return (
            self.b03[w].copy(),
            self.b04[w].copy(),
            self.b08[w].copy(),
            self.scl[_scl_window(row, col, height, width)].copy(),
        )


_V3_CHUNK = re.compile(r"^(?P<array>.+?)/c(?:[/.](?P<coords>\d+(?:[/.]\d+)*))?$")
_V2_CHUNK = re.compile(r"^(?P<array>.+?)/(?P<coords>\d+(?:[/.]\d+)*)$")


def _split_chunk_key(key: str) -> tuple[str, tuple[int, ...] | None]:
    for pattern in (_V3_CHUNK, _V2_CHUNK):
        m = pattern.match(key)
        if m:
            coords = m.group("coords")
            return m.group("array"), tuple(int(c) for c in re.split(r"[/.]", coords)) if coords else ()
    return key, None


class _StrictStore(WrapperStore[Store]):
    """Raises ProductReadError for a missing chunk, where Zarr would return the fill value."""

    def __init__(self, store: Store, href: str = "") -> None:
        super().__init__(store)
        self._href = href

    def _with_store(self, store: Store) -> _StrictStore:
        return type(self)(store, self._href)

    def _check(self, key: str, value: Buffer | None) -> Buffer | None:
        if value is None and not key.endswith(_METADATA_KEYS):
            array, coords = _split_chunk_key(key)
            raise ProductReadError("chunk missing from the store", path=f"{self._href}/{array}", chunk=coords, key=key)
        return value

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        return self._check(key, await self._store.get(key, prototype, byte_range))

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        values = await self._store.get_partial_values(prototype, key_ranges)
        return [self._check(k, v) for (k, _), v in zip(key_ranges, values, strict=True)]

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)


def _is_transient(exc: BaseException) -> bool:
    """Network and I/O faults that may pass; everything else reading a chunk means a bad chunk."""
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        return False
    return isinstance(exc, OSError | TimeoutError) or type(exc).__module__.split(".")[0] in (
        "aiohttp",
        "botocore",
        "s3fs",
    )


def _open_store(href: str, storage_options: dict[str, Any] | None) -> tuple[Store, bool]:
    """(store, is_remote) for a local path or an fsspec URL."""
    parts = urlsplit(href)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a path, file:// or a Windows drive
        local = Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else Path(href)
        if not local.is_dir():
            raise ProductNotFoundError("no such Zarr store", path=href)
        return LocalStore(local, read_only=True), False
    try:
        return FsspecStore.from_url(href, storage_options=storage_options, read_only=True), True
    except (ImportError, ValueError) as exc:
        raise ProductReadError(f"cannot open the store: {exc}", path=href) from exc


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _baseline(props: dict[str, Any], product_id: str) -> str | None:
    for key in ("processing:version", "eopf:baseline"):
        value = props.get(key)
        if isinstance(value, str) and re.fullmatch(r"\d{2}\.\d{2}", value):
            return value
    m = re.search(r"_N(\d{2})(\d{2})_", product_id)
    return f"{m.group(1)}.{m.group(2)}" if m else None


class EopfProduct:
    """An opened EOPF Sentinel-2 L2A product (see the module docstring); implements ProductReader."""

    def __init__(self, href: str, group: zarr.Group, remote: bool) -> None:
        self.href, self._remote = href, remote
        self.zarr_format: int = int(group.metadata.zarr_format)
        self._bands = {b: self._array(group, f"{R10M}/{b}", np.uint16) for b in ("b03", "b04", "b08")}
        self._scl = self._array(group, SCL_PATH, np.uint8)
        b03 = self._bands["b03"]
        self.shape: tuple[int, int] = (int(b03.shape[0]), int(b03.shape[1]))
        self.chunks: tuple[int, int] = (int(b03.chunks[0]), int(b03.chunks[1]))
        if any(a.shape != b03.shape for a in self._bands.values()):
            raise ProductReadError("10 m bands differ in shape", path=href)
        if tuple(self._scl.shape) != ((self.shape[0] + 1) // 2, (self.shape[1] + 1) // 2):
            raise ProductReadError(f"SCL shape {self._scl.shape} does not match 10 m shape {self.shape}", path=href)
        root: dict[str, Any] = dict(group.attrs.asdict())
        discovery: dict[str, Any] = root.get("stac_discovery") or {}
        props: dict[str, Any] = discovery.get("properties") or {}
        other: dict[str, Any] = root.get("other_metadata") or {}
        band_attrs: dict[str, Any] = dict(b03.attrs.asdict())
        self.item_id: str = (
            str(discovery.get("id") or Path(urlsplit(href).path).name).removesuffix(".SAFE").removesuffix(".zarr")
        )
        self.crs: str = self._crs(band_attrs, props, other)
        self.transform = self._transform(group, band_attrs, props)
        self.datetime: datetime | None = (
            _parse_time(props.get("datetime"))
            or _parse_time(props.get("start_datetime"))
            or _parse_time(other.get("mean_sensing_time"))
        )
        self.processing_baseline: str | None = _baseline(props, self.item_id)
        fill = b03.metadata.fill_value
        self.radiometry = Radiometry(
            scale_factor=_float_or_none(band_attrs.get("scale_factor")),
            add_offset=_float_or_none(band_attrs.get("add_offset")),
            fill_value=int(fill) if fill is not None else 0,
            valid_min=band_attrs.get("valid_min"),
            valid_max=band_attrs.get("valid_max"),
        )

    @property
    def scale_factor(self) -> float | None:
        return self.radiometry.scale_factor

    @property
    def add_offset(self) -> float | None:
        return self.radiometry.add_offset

    def _array(self, group: zarr.Group, path: str, dtype: type[np.generic]) -> zarr.Array[Any]:
        try:
            node = group[path]
        except KeyError as exc:
            raise ProductReadError("array missing", path=f"{self.href}/{path}") from exc
        if not isinstance(node, zarr.Array) or node.ndim != 2 or node.dtype != np.dtype(dtype):
            raise ProductReadError(f"expected a 2-D {np.dtype(dtype)} array", path=f"{self.href}/{path}")
        return node

    def _crs(self, band_attrs: dict[str, Any], props: dict[str, Any], other: dict[str, Any]) -> str:
        for value in (band_attrs.get("proj:epsg"), props.get("proj:epsg")):
            if isinstance(value, int | str) and str(value).isdigit():
                return f"EPSG:{int(value)}"
        for value in (props.get("proj:code"), other.get("horizontal_CRS_code")):
            if isinstance(value, str) and re.fullmatch(r"EPSG:\d+", value):
                return value
        raise ProductReadError("no CRS (proj:epsg / proj:code) in the product metadata", path=self.href)

    def _transform(
        self, group: zarr.Group, band_attrs: dict[str, Any], props: dict[str, Any]
    ) -> tuple[float, float, float, float, float, float]:
        t = band_attrs.get("proj:transform")
        if isinstance(t, list) and len(t) >= 6:
            return (float(t[0]), float(t[1]), float(t[2]), float(t[3]), float(t[4]), float(t[5]))
        bbox = props.get("proj:bbox")
        metric_bbox = isinstance(bbox, list) and len(bbox) == 4 and max(abs(float(v)) for v in bbox) > 360.0
        height, width = self.shape
        x: zarr.Array[Any] | zarr.Group | None
        y: zarr.Array[Any] | zarr.Group | None
        try:
            x, y = group[f"{R10M}/x"], group[f"{R10M}/y"]
        except KeyError:
            x = y = None
        if (
            isinstance(x, zarr.Array)
            and isinstance(y, zarr.Array)
            and x.shape == (width,)
            and y.shape == (height,)
            and width > 1
            and height > 1
        ):
            xs = np.array([x[0], x[width - 1]], dtype=np.float64)
            ys = np.array([y[0], y[height - 1]], dtype=np.float64)
            res_x, res_y = (xs[1] - xs[0]) / (width - 1), (ys[0] - ys[1]) / (height - 1)
            # EOPF coordinates are pixel centres; accept corner coordinates when they equal the bbox corner
            corner = metric_bbox and abs(xs[0] - float(bbox[0])) < res_x / 4 and abs(ys[0] - float(bbox[3])) < res_y / 4  # type: ignore[index]
            half_x, half_y = (0.0, 0.0) if corner else (res_x / 2.0, res_y / 2.0)
            return (float(res_x), 0.0, float(xs[0] - half_x), 0.0, float(-res_y), float(ys[0] + half_y))
        if metric_bbox:
            xmin, _, xmax, ymax = (float(v) for v in bbox)  # type: ignore[union-attr]
            res = (xmax - xmin) / width
            return (res, 0.0, xmin, 0.0, -res, ymax)
        raise ProductReadError("no georeferencing (proj:transform, x/y coordinates or proj:bbox)", path=self.href)

    def arrays(self) -> dict[str, zarr.Array[Any]]:
        """The arrays `read_window` reads (b03, b04, b08 at 10 m; scl at 20 m), for chunk-level readers."""
        return {**self._bands, "scl": self._scl}

    def array_path(self, name: str) -> str:
        return SCL_PATH if name == "scl" else f"{R10M}/{name}"

    def read_part(self, name: str, rows: slice, cols: slice) -> np.ndarray:
        """Any rectangle of one array through Zarr, with the same error mapping as `read_window`."""
        return self._read(self.arrays()[name], (rows, cols), self.array_path(name))

    def read_window(self, row: int, col: int, height: int, width: int) -> Window:
        """b03, b04, b08 (uint16, height x width) and SCL (uint8, ceil(h/2) x ceil(w/2)) of a window."""
        _check_window(self.shape, row, col, height, width)
        w10 = (slice(row, row + height), slice(col, col + width))
        jobs = [(self._bands[b], w10, f"{R10M}/{b}") for b in ("b03", "b04", "b08")]
        jobs.append((self._scl, _scl_window(row, col, height, width), SCL_PATH))
        if self._remote:  # overlap the round trips
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                out = list(pool.map(lambda job: self._read(*job), jobs))
        else:
            out = [self._read(*job) for job in jobs]
        return out[0], out[1], out[2], out[3]

    def _read(self, array: zarr.Array[Any], sel: tuple[slice, slice], path: str) -> np.ndarray:
        try:
            return np.asarray(array[sel])
        except ProductReadError:
            raise
        except Exception as exc:
            if _is_transient(exc):
                raise
            raise self._diagnose(array, sel, path, exc) from exc

    def _diagnose(
        self, array: zarr.Array[Any], sel: tuple[slice, slice], path: str, exc: Exception
    ) -> ProductReadError:
        """Find the chunk that fails to decode, by reading the window's chunks one at a time."""
        (r, c), (ch, cw) = sel, array.chunks
        for i in range(r.start // ch, (r.stop - 1) // ch + 1):
            for j in range(c.start // cw, (c.stop - 1) // cw + 1):
                try:
                    array.get_block_selection((i, j))
                except ProductReadError as missing:
                    return missing
                except Exception as bad:
                    if _is_transient(bad):
                        raise
                    return ProductReadError(
                        f"corrupt chunk ({type(bad).__name__}: {bad})", path=f"{self.href}/{path}", chunk=(i, j)
                    )
        return ProductReadError(f"cannot read ({type(exc).__name__}: {exc})", path=f"{self.href}/{path}")


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def open_product(
    href: str | Path,
    storage_options: dict[str, Any] | None = None,
    *,
    missing_chunks: Literal["raise", "fill"] = "raise",
) -> EopfProduct:
    """Open the EOPF Zarr product at `href` (path or fsspec URL); `missing_chunks="fill"` reads
    absent chunks as the fill value, as plain Zarr does."""
    href = str(href).rstrip("/")
    store, remote = _open_store(href, storage_options)
    if missing_chunks == "raise":
        store = _StrictStore(store, href)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", zarr.errors.ZarrUserWarning
            )  # "consolidated metadata ... not in the v3 spec"
            group = zarr.open_group(store, mode="r")
    except ProductReadError:
        raise
    except FileNotFoundError as exc:  # zarr's GroupNotFoundError included
        raise ProductNotFoundError(f"no Zarr group ({exc})", path=href) from exc
    except Exception as exc:
        if _is_transient(exc):
            raise
        raise ProductReadError(f"not a readable Zarr group ({type(exc).__name__}: {exc})", path=href) from exc
    return EopfProduct(href, group, remote)


__all__ = [
    "REQUIRED_ARRAYS",
    "ArrayProduct",
    "ArraySpec",
    "EopfProduct",
    "ProductNotFoundError",
    "ProductReadError",
    "ProductReader",
    "Radiometry",
    "open_product",
]
