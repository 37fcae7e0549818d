"""The EOPF reader: what it relies on exists in the real product metadata; generated v2/v3 products
read back exactly; only the window's chunks are read; missing and corrupt chunks raise."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from greenwatch.services.sampledata import GeneratedProduct, Scenario, generate
from greenwatch.services.worker.reader import (
    REQUIRED_ARRAYS,
    ROOT_ATTRS,
    ArrayProduct,
    EopfProduct,
    ProductNotFoundError,
    ProductReader,
    ProductReadError,
    Radiometry,
    open_product,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
R10M = "measurements/reflectance/r10m"
SCL = "conditions/mask/l2a_classification/r20m/scl"
# 244 px = 3 chunks of 64 + a partial one of 52 (SCL: 122 = 3 x 32 + 26)
SMALL = Scenario(size=244, chunk=64, dates=(date(2025, 7, 1),), change_area=None, cloud_fraction=0.2)
VARIANTS = [(2, True), (3, True), (2, False), (3, False)]  # (zarr_format, consolidated)


def _groupspec() -> dict[str, Any]:
    path = SHARED / "data" / "eopf"
    found = sorted(path.glob("zarr2_groupspec_*.json")) if path.is_dir() else []
    if not found:
        pytest.skip(f"real product metadata not found under {path}")
    spec: dict[str, Any] = json.loads(found[0].read_text())
    return spec


def _node(spec: dict[str, Any], path: str) -> dict[str, Any]:
    node = spec
    for name in path.split("/"):
        node = node["members"][name]
    return node


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], GeneratedProduct]:
    out = {}
    for fmt, consolidated in VARIANTS:
        root = tmp_path_factory.mktemp(f"v{fmt}{'c' if consolidated else ''}")
        (out[(fmt, consolidated)],) = generate(root, SMALL.replace(zarr_format=fmt, consolidated=consolidated))
    return out


def _array(group: zarr.Group, path: str) -> np.ndarray:
    node = group[path]
    assert isinstance(node, zarr.Array)
    return np.asarray(node[:])


def _written(p: GeneratedProduct) -> dict[str, np.ndarray]:
    """The arrays as written, read with plain Zarr (no reader code involved)."""
    g = zarr.open_group(p.path, mode="r")
    return {name: _array(g, f"{R10M}/{name}") for name in ("b03", "b04", "b08")} | {"scl": _array(g, SCL)}


def test_everything_the_reader_relies_on_exists_in_the_real_metadata() -> None:
    spec = _groupspec()
    for req in REQUIRED_ARRAYS:
        node = _node(spec, req.path)
        assert node["dtype"] == req.dtype, req.path
        missing = set(req.v2_attrs) - set(node["attributes"])
        assert not missing, (req.path, missing)
    for key in ROOT_ATTRS:
        assert key in spec["attributes"]
    props = spec["attributes"]["stac_discovery"]["properties"]
    assert "start_datetime" in props and "eopf:baseline" in props and "proj:epsg" in props


def _materialise(spec: dict[str, Any], root: Path) -> None:
    """The real product's metadata as an (empty) Zarr v2 store: groups, arrays, no chunks."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".zattrs").write_text(json.dumps(spec.get("attributes", {})))
    if "members" not in spec:
        (root / ".zarray").write_text(json.dumps({k: v for k, v in spec.items() if k != "attributes"}))
        return
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    for name, child in spec["members"].items():
        _materialise(child, root / name)


def test_the_real_product_metadata_opens(tmp_path: Path) -> None:
    store = tmp_path / "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613.zarr"
    _materialise(_groupspec(), store)
    p = open_product(store)  # non-consolidated, real v2 attributes, no chunks
    assert (p.zarr_format, p.crs, p.shape, p.chunks) == (2, "EPSG:32632", (10980, 10980), (5490, 5490))
    assert p.transform == (10.0, 0.0, 699960.0, 0.0, -10.0, 4700040.0)
    assert p.processing_baseline == "05.11"  # processing:version is "" there; eopf:baseline has it
    assert p.datetime is not None and p.datetime.isoformat() == "2025-10-08T10:00:41.024000+00:00"
    assert p.radiometry == Radiometry(0.0001, -0.1, 0, 1, 65535)
    assert p.item_id == "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
    with pytest.raises(ProductReadError, match="missing") as err:
        p.read_window(5490, 0, 10, 10)
    assert err.value.chunk == (1, 0) and err.value.path.endswith(f"{R10M}/b03")


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"v{v[0]}{'-consolidated' if v[1] else ''}")
def test_metadata_of_generated_products(
    products: dict[tuple[int, bool], GeneratedProduct], variant: tuple[int, bool]
) -> None:
    gen = products[variant]
    grid = SMALL.grid()
    p = open_product(gen.href)  # the file:// URL of the STAC item
    assert isinstance(p, ProductReader)
    assert (p.zarr_format, p.crs, p.shape, p.chunks) == (variant[0], grid.crs, grid.shape, (64, 64))
    assert p.transform == grid.transform
    assert (p.processing_baseline, p.datetime, p.item_id) == ("05.11", gen.datetime, gen.item_id)
    assert (p.scale_factor, p.add_offset) == (0.0001, -0.1)


WINDOWS = [
    (0, 0, 244, 244),  # everything
    (0, 0, 64, 64),  # one chunk
    (62, 126, 7, 9),  # odd size across chunk borders
    (130, 2, 65, 129),
    (192, 192, 52, 52),  # the partial corner chunk
    (180, 100, 64, 144),  # to the right edge
    (242, 242, 2, 2),  # last 20 m pixel
    (240, 0, 3, 244),  # odd height at the bottom edge
]


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=["v2", "v3"])
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_windows_read_back_what_was_written(
    products: dict[tuple[int, bool], GeneratedProduct], variant: tuple[int, bool], window: tuple[int, int, int, int]
) -> None:
    gen = products[variant]
    ref = _written(gen)
    row, col, h, w = window
    b03, b04, b08, scl = open_product(gen.path).read_window(row, col, h, w)
    for got, name in ((b03, "b03"), (b04, "b04"), (b08, "b08")):
        assert got.dtype == np.uint16 and got.shape == (h, w)
        assert np.array_equal(got, ref[name][row : row + h, col : col + w]), name
    assert scl.dtype == np.uint8 and scl.shape == ((h + 1) // 2, (w + 1) // 2)
    assert np.array_equal(scl, ref["scl"][row // 2 : (row + h + 1) // 2, col // 2 : (col + w + 1) // 2])
    # the SCL covers the same ground: fill where the bands are fill
    assert np.array_equal(np.repeat(np.repeat(scl, 2, 0), 2, 1)[:h, :w] == 0, b03 == 0)


def test_array_product_reads_like_the_zarr_one(products: dict[tuple[int, bool], GeneratedProduct]) -> None:
    ref = _written(products[(3, True)])
    mem = ArrayProduct(ref["b03"], ref["b04"], ref["b08"], ref["scl"])
    assert isinstance(mem, ProductReader)
    zarr_window = open_product(products[(3, True)].path).read_window(62, 126, 7, 9)
    for a, b in zip(mem.read_window(62, 126, 7, 9), zarr_window, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("window", [(1, 0, 4, 4), (0, 3, 4, 4), (0, 0, 0, 4), (240, 0, 6, 4), (0, -2, 4, 4)])
def test_bad_windows_are_refused(
    products: dict[tuple[int, bool], GeneratedProduct], window: tuple[int, int, int, int]
) -> None:
    with pytest.raises(ValueError):
        open_product(products[(3, True)].path).read_window(*window)


def _copy(gen: GeneratedProduct, tmp_path: Path) -> Path:
    dst = tmp_path / gen.path.name
    shutil.copytree(gen.path, dst)
    return dst


def _chunk_file(product: Path, array: str, fmt: int, i: int, j: int) -> Path:
    return product / array / ("c" if fmt == 3 else "") / (f"{i}/{j}" if fmt == 3 else f"{i}.{j}")


@pytest.mark.parametrize("fmt", [2, 3])
def test_only_the_windows_chunks_are_read(
    products: dict[tuple[int, bool], GeneratedProduct], fmt: int, tmp_path: Path
) -> None:
    gen = products[(fmt, True)]
    path = _copy(gen, tmp_path)
    for array, size in ((f"{R10M}/b03", 64), (f"{R10M}/b04", 64), (f"{R10M}/b08", 64), (SCL, 32)):
        n = -(-(244 if size == 64 else 122) // size)
        for i in range(n):
            for j in range(n):
                if (i, j) != (1, 2):
                    _chunk_file(path, array, fmt, i, j).unlink()
    p = open_product(path)
    b03, *_ = p.read_window(64, 128, 64, 64)  # exactly chunk (1, 2) at 10 m and 20 m
    assert np.array_equal(b03, _written(gen)["b03"][64:128, 128:192])
    with pytest.raises(ProductReadError, match="missing") as err:
        p.read_window(64, 126, 4, 4)  # touches chunk (1, 1) too
    assert err.value.chunk == (1, 1) and f"{R10M}/b0" in err.value.path
    filled = open_product(path, missing_chunks="fill").read_window(0, 0, 8, 8)
    assert not filled[0].any()


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_chunk_raises(
    products: dict[tuple[int, bool], GeneratedProduct], fmt: int, damage: str, tmp_path: Path
) -> None:
    gen = products[(fmt, True)]
    path = _copy(gen, tmp_path)
    chunk = _chunk_file(path, f"{R10M}/b04", fmt, 1, 2)
    data = chunk.read_bytes()
    chunk.write_bytes(
        {"garbage": b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4, "truncated": data[: len(data) // 3], "empty": b""}[
            damage
        ]
    )
    p = open_product(path)
    with pytest.raises(ProductReadError) as err:
        p.read_window(60, 60, 80, 80)  # chunks (0..2, 0..2)
    assert err.value.chunk == (1, 2) and err.value.path.endswith(f"{R10M}/b04")
    _, b04, _, _ = p.read_window(0, 0, 64, 64)  # other chunks still read
    assert np.array_equal(b04, _written(gen)["b04"][:64, :64])


def test_not_a_product(tmp_path: Path, products: dict[tuple[int, bool], GeneratedProduct]) -> None:
    with pytest.raises(ProductNotFoundError):
        open_product(tmp_path / "nope.zarr")
    with pytest.raises(FileNotFoundError):  # ProductNotFoundError is one, for callers that map it
        open_product((tmp_path / "nope.zarr").as_uri())
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ProductNotFoundError):
        open_product(tmp_path / "empty.zarr")
    broken = _copy(products[(2, False)], tmp_path)
    shutil.rmtree(broken / SCL)
    with pytest.raises(ProductReadError, match="array missing"):
        open_product(broken)


def test_old_baseline_without_offset(tmp_path: Path) -> None:
    (gen,) = generate(tmp_path, SMALL.replace(size=64, chunk=32, processing_baseline="03.01"))
    p = open_product(gen.path)
    assert p.processing_baseline == "03.01" and p.add_offset is None and p.radiometry.offset("03.01") == 0.0
    assert Radiometry(0.0001, None).offset("05.11") == -0.1


@pytest.fixture(scope="module")
def http_root(products: dict[tuple[int, bool], GeneratedProduct]) -> Iterator[tuple[str, Path]]:
    root = products[(3, True)].path.parents[2]  # serves every variant's output folder
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"v{v[0]}{'-consolidated' if v[1] else ''}")
def test_read_over_http(
    http_root: tuple[str, Path], products: dict[tuple[int, bool], GeneratedProduct], variant: tuple[int, bool]
) -> None:
    base, root = http_root
    gen = products[variant]
    url = f"{base}/{gen.path.relative_to(root).as_posix()}"
    p = open_product(url, storage_options={"block_size": 0})
    assert isinstance(p, EopfProduct) and p.transform == SMALL.grid().transform
    _, _, b08, scl = p.read_window(62, 126, 7, 9)
    ref = _written(gen)
    assert np.array_equal(b08, ref["b08"][62:69, 126:135]) and np.array_equal(scl, ref["scl"][31:35, 63:68])
    with pytest.raises(FileNotFoundError):
        open_product(f"{base}/nothing-here.zarr")
