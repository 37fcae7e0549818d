"""A throw-away local STAC API: `rustac serve` (in-memory backend) on 127.0.0.1.

What the in-memory backend does (rustac 0.2.x): collections, items, `/search` with `collections`,
`ids`, `bbox`, `intersects`, `datetime` and paging (`limit` + `next` links). It answers `query`
and `filter` with HTTP 200 and *zero* items (not an error), ignores `sortby`, and cannot take new
items without a restart. POST /search pages with POST `next` links carrying a `skip` token in the
body. Use it for integration tests and demos, not as a catalogue.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_STOP_TIMEOUT_S = 5.0


def find_rustac() -> Path:
    """`rustac` next to the running interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / ("rustac.exe" if sys.platform == "win32" else "rustac")
    if here.is_file():
        return here
    found = shutil.which("rustac")
    if found:
        return Path(found)
    raise RuntimeError("rustac not found next to the Python interpreter or on PATH (pip install rustac)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stac_type(f: Path) -> str | None:
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = doc.get("type") if isinstance(doc, dict) else None
    return kind if kind in ("Collection", "Feature", "FeatureCollection") else None


def stac_files(paths: Sequence[Path]) -> list[Path]:
    """JSON files to load: files as given; in folders (searched recursively) the STAC collections,
    items and item collections, other JSON skipped. Collections come first."""
    files: list[tuple[Path, str | None]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = ((f, _stac_type(f)) for f in sorted(p.rglob("*.json")))
            files.extend((f, kind) for f, kind in found if kind)
        elif p.is_file():
            files.append((p, _stac_type(p)))
        else:
            raise FileNotFoundError(p)
    return [f for f, kind in sorted(files, key=lambda fk: fk[1] != "Collection")]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - our own http://127.0.0.1 URL
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(fh: IO[bytes], limit: int = 4000) -> str:
    fh.flush()
    fh.seek(0)
    return fh.read().decode("utf-8", "replace")[-limit:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve_stac(
    paths: Sequence[Path],
    *,
    port: int | None = None,
    startup_timeout: float = 30.0,
    create_collections: bool = True,
) -> Iterator[str]:
    """Serve the STAC collections/items in `paths` (files or folders) on 127.0.0.1; yields the
    base URL (`http://127.0.0.1:<port>`) and stops the server on exit, whatever happens.

    Raises RuntimeError (with the server's stderr) when it exits early or does not answer
    `/collections` within `startup_timeout` seconds."""
    exe = find_rustac()
    files = [str(f.resolve()) for f in stac_files(paths)]
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(exe), "serve", "--addr", f"127.0.0.1:{port}"]
    if create_collections:
        cmd.append("--create-collections")
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd + files, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _answers(f"{url}/collections"):
                if proc.poll() is not None:
                    raise RuntimeError(f"rustac serve exited with code {proc.returncode}:\n{_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"rustac serve did not answer {url}/collections within {startup_timeout} s:\n{_tail(log)}"
                    )
                time.sleep(0.1)
            yield url
        finally:
            _stop(proc)
