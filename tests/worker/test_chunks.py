"""Chunk-level reading: whole chunks decoded straight from the store equal what Zarr reads, for both EOPF
encodings and for edge chunks; other codec chains fall back to Zarr; bad chunks name themselves; windows
share decoded 20 m chunks; the prefetcher reads ahead and surfaces errors where the task is handled."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import GzipCodec

from greenwatch.services.sampledata import GeneratedProduct, Scenario, generate
from greenwatch.services.worker import _chunks
from greenwatch.services.worker._chunks import ChunkSource, direct_codec
from greenwatch.services.worker._prefetch import Prefetcher
from greenwatch.services.worker._window import ProductWindows
from greenwatch.services.worker.reader import ProductReadError, open_product

from .conftest import R10M, SCL, chunk_file

EDGY = Scenario(size=244, chunk=64, dates=(date(2025, 7, 1),), change_area=None, cloud_fraction=0.2)


@pytest.fixture(scope="module")
def edgy(tmp_path_factory: pytest.TempPathFactory) -> dict[int, GeneratedProduct]:
    return {fmt: generate(tmp_path_factory.mktemp(f"edgy{fmt}"), EDGY.replace(zarr_format=fmt))[0]
            for fmt in (2, 3)}


@pytest.mark.parametrize("fmt", [2, 3])
def test_every_chunk_decodes_to_what_zarr_reads(edgy: dict[int, GeneratedProduct], fmt: int) -> None:
    product = open_product(edgy[fmt].path)
    for name, arr in product.arrays().items():
        src = ChunkSource(arr, name)
        assert src.codec is not None  # both EOPF encodings take the direct path
        ch, cw = src.chunks
        for i in range(-(-arr.shape[0] // ch)):
            for j in range(-(-arr.shape[1] // cw)):
                got = src.read(i, j)
                want = np.asarray(arr[i * ch : (i + 1) * ch, j * cw : (j + 1) * cw])
                assert got.dtype == want.dtype and np.array_equal(got, want), (name, i, j)
                assert got.flags.c_contiguous


def test_other_codec_chains_read_through_zarr(tmp_path: Path) -> None:
    data = np.arange(100 * 90, dtype=np.uint16).reshape(100, 90)
    gz = zarr.create_array(tmp_path / "gz.zarr", shape=data.shape, dtype="uint16", chunks=(40, 40),
                           compressors=GzipCodec())
    gz[...] = data
    big = zarr.create_array(tmp_path / "be.zarr", shape=data.shape, dtype=">u2", chunks=(40, 40))
    big[...] = data
    for arr in (gz, big):
        src = ChunkSource(arr, "x")
        assert direct_codec(arr) is None and src.codec is None
        assert np.array_equal(src.read(2, 2), data[80:, 80:]) and np.array_equal(src.read(0, 1), data[:40, 40:80])
    with pytest.raises(ValueError, match="outside"):
        ChunkSource(gz, "x").read(3, 0)


@pytest.mark.parametrize("fmt", [2, 3])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing"])
def test_a_bad_chunk_raises_naming_array_and_chunk(
    edgy: dict[int, GeneratedProduct], tmp_path: Path, fmt: int, damage: str
) -> None:
    path = tmp_path / "p.zarr"
    shutil.copytree(edgy[fmt].path, path)
    f = chunk_file(path, f"{R10M}/b08", fmt, 3, 1)  # an edge chunk (rows 192-243)
    data = f.read_bytes()
    if damage == "missing":
        f.unlink()
    else:
        f.write_bytes({"garbage": bytes(range(256)) * 4, "truncated": data[: len(data) // 2], "empty": b""}[damage])
    windows = ProductWindows(open_product(path))
    with pytest.raises(ProductReadError) as err:
        [job() for job in windows.jobs(192, 64, 52, 64)]
    assert err.value.chunk == (3, 1) and err.value.path.endswith(f"{R10M}/b08")
    assert ("missing" if damage == "missing" else "corrupt chunk") in str(err.value)
    b03, *_ = (job() for job in windows.jobs(0, 0, 64, 64))  # the product's other chunks still read
    assert b03.shape == (64, 64)


def _rechunk_scl_like_v2(src: Path, dst: Path) -> None:
    """The real v2 layout: the 20 m SCL chunked like the 10 m bands, so one SCL chunk lies under 2 x 2."""
    shutil.copytree(src, dst)
    (dst / ".zmetadata").unlink()
    g = zarr.open_group(dst, mode="r+")
    scl = np.asarray(g[SCL][...])
    meta = json.loads((dst / SCL / ".zarray").read_text())
    attrs = dict(g[SCL].attrs.asdict())
    shutil.rmtree(dst / SCL)
    new = zarr.open_group(dst / SCL.rsplit("/", 1)[0], mode="r+").create_array(
        "scl", shape=scl.shape, dtype="uint8", chunks=(64, 64), compressors=g[f"{R10M}/b03"].compressors,
        chunk_key_encoding={"name": "v2", "separator": "."}, attributes=attrs, fill_value=meta["fill_value"])
    new[...] = scl


def test_windows_share_the_20m_chunks_under_them(
    edgy: dict[int, GeneratedProduct], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v2.zarr"
    _rechunk_scl_like_v2(edgy[2].path, path)
    product = open_product(path)
    assert product.arrays()["scl"].chunks == (64, 64)
    reads: list[tuple[str, int, int]] = []
    real = _chunks.ChunkSource.read

    def counting(self: ChunkSource, i: int, j: int, pool: object = None) -> np.ndarray:
        reads.append((self.label.rsplit("/", 1)[-1], i, j))
        return real(self, i, j, pool)  # type: ignore[arg-type]

    monkeypatch.setattr(_chunks.ChunkSource, "read", counting)
    windows = ProductWindows(product)
    for row in range(0, 244, 64):
        for col in range(0, 244, 64):
            h, w = min(64, 244 - row), min(64, 244 - col)
            got = [job() for job in windows.jobs(row, col, h, w)]
            for a, b in zip(got, product.read_window(row, col, h, w), strict=True):
                assert np.array_equal(a, b), (row, col)
    scl_reads = [r for r in reads if r[0] == "scl"]
    assert len(scl_reads) == len(set(scl_reads)) == 4  # 2 x 2 SCL chunks, each decoded once
    odd = [job() for job in windows.jobs(62, 126, 7, 9)]  # not a chunk: through Zarr, same values
    for a, b in zip(odd, product.read_window(62, 126, 7, 9), strict=True):
        assert np.array_equal(a, b)


def test_the_prefetcher_reads_ahead_in_order_and_drops_what_is_not_coming() -> None:
    started: list[str] = []
    gate = threading.Event()

    def plan(key: str, wait: bool = False):  # type: ignore[no-untyped-def]
        def job() -> np.ndarray:
            started.append(key)
            if wait:
                gate.wait(5)
            return np.array([len(key)])

        return lambda: [job]

    pf = Prefetcher(threads=1, depth=2)
    pf.hint([("a", plan("a", wait=True)), ("bb", plan("bb")), ("ccc", plan("ccc")), ("dddd", plan("dddd"))])
    time.sleep(0.1)
    assert started == ["a"]  # depth 2: a and bb are queued, the single reader is busy with a
    gate.set()
    assert pf.take("a", plan("a"))[0].tolist() == [1]
    deadline = time.monotonic() + 5
    while len(started) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == ["a", "bb", "ccc"]  # while a was handled, bb and ccc were read
    pf.hint([("x", plan("x"))])  # a new batch: bb, ccc, dddd are not coming any more
    assert pf.take("x", plan("x"))[0].tolist() == [1]
    assert pf.take("bb", plan("bb"))[0].tolist() == [2]  # still served, read afresh
    pf.close()


def test_the_prefetcher_raises_a_failed_read_when_the_task_is_taken() -> None:
    def broken() -> list:  # type: ignore[type-arg]
        raise ProductReadError("chunk missing from the store", path="p", chunk=(0, 0))

    def job() -> np.ndarray:
        raise OSError("reset")

    pf = Prefetcher(threads=2, depth=2)
    pf.hint([("a", broken), ("b", lambda: [job])])
    with pytest.raises(ProductReadError, match="missing"):
        pf.take("a", broken)
    with pytest.raises(OSError, match="reset"):
        pf.take("b", lambda: [job])
    assert pf.take("b", lambda: [lambda: np.zeros(1)])[0].tolist() == [0]  # a retry reads again
    pf.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_chunks_of_a_remote_store_decode_the_same(edgy: dict[int, GeneratedProduct], tmp_path: Path) -> None:
    root = tmp_path / "served"
    for fmt, gen in edgy.items():
        shutil.copytree(gen.path, root / f"v{fmt}.zarr")
    chunk_file(root / "v3.zarr", f"{R10M}/b04", 3, 0, 1).unlink()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for fmt in (2, 3):
            local = open_product(edgy[fmt].path)
            remote = open_product(f"http://127.0.0.1:{server.server_address[1]}/v{fmt}.zarr")
            for name in ("b03", "scl"):
                src = ChunkSource(remote.arrays()[name], name)
                assert src.codec is not None and _chunks.local_root(remote.arrays()[name]) is None
                ref = ChunkSource(local.arrays()[name], name)
                assert np.array_equal(src.read(1, 3), ref.read(1, 3))
        with pytest.raises(ProductReadError, match="missing") as err:
            ChunkSource(remote.arrays()["b04"], "b04").read(0, 1)
        assert err.value.chunk == (0, 1)
    finally:
        server.shutdown()
        server.server_close()
