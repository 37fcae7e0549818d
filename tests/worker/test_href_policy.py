"""A STAC item must not make a worker fetch an arbitrary URL: schemes and hosts are allow-listed."""

from __future__ import annotations

import pytest

from greenwatch.services.errors import PermanentError
from greenwatch.services.worker._common import ProductOpener


@pytest.mark.parametrize("href", [
    "http://169.254.169.254/latest/meta-data.zarr",        # scheme not allowed
    "https://evil.example.com/product.zarr",              # host not allowed
    "https://eodc.eu.evil.example.com/product.zarr",      # suffix trick
    "s3://objects.eodc.eu.attacker.net/bucket/p.zarr",
])
def test_disallowed_hrefs_are_refused_before_any_read(href: str) -> None:
    opener = ProductOpener(["file", "https", "s3"], allowed_hosts=["*.eodc.eu", "data.example.org"])
    with pytest.raises(PermanentError, match="not allowed"):
        opener(href)


def test_allowed_hosts_match_exactly_or_by_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    # never touch the network: record what would be opened instead
    monkeypatch.setattr("greenwatch.services.worker._common.open_product",
                        lambda href, storage_options=None: opened.append(href) or object())
    opener = ProductOpener(["https"], allowed_hosts=["*.eodc.eu", "data.example.org"])
    for href in ("https://objects.eodc.eu/x.zarr", "https://data.example.org/x.zarr"):
        opener(href)
    assert opened == ["https://objects.eodc.eu/x.zarr", "https://data.example.org/x.zarr"]
