"""Datasets: what they are (catalogue), fetch and verify (fetch), load as tensors (splits), batch on the device
(loader).

Import from the modules: ``from blockzoo.data.loader import DeviceLoader``; this package imports nothing.
"""
