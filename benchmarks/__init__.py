"""Benchmarks (run as ``python -m benchmarks.bench_kernels``); not imported by the package."""
