"""The merger: tile results -> one observation per (area, acquisition date) in the Zarr time series."""

from greenwatch.services.merger._merge import Merger, complete_products, observation_from

__all__ = ["Merger", "complete_products", "observation_from"]
