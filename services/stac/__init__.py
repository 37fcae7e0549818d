"""STAC helpers: a local STAC API server (rustac) for tests and the demo, and a fault-injecting proxy."""

from .faults import Fault, FaultProxy, every, fault_proxy
from .server import find_rustac, free_port, serve_stac, stac_files

__all__ = ["Fault", "FaultProxy", "every", "fault_proxy", "find_rustac", "free_port", "serve_stac", "stac_files"]
