"""STAC helpers: a local STAC API server (rustac) for tests and the demo."""

from .server import find_rustac, free_port, serve_stac, stac_files

__all__ = ["find_rustac", "free_port", "serve_stac", "stac_files"]
