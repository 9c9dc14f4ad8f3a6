"""Benchmark a cell: inference latency and throughput, deploy form and train form.

latency: timing a forward pass; measure.benchmark_cell(): the record; `python -m blockzoo.benchmark`.
Import from the modules; this package imports nothing.
"""
