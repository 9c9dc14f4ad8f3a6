"""Keep freed memory in the process for CPU training (glibc's malloc).

A CPU training step allocates and frees the same large activation and gradient buffers every step.
glibc serves blocks above its mmap threshold with mmap and gives them back with munmap when freed, so
every step page-faults its buffers in again and the kernel zeroes each page. With mmap off and trimming
off, freed blocks stay in the heap and the next step reuses them: the baseline cell's bare step at batch
256 went from 39.1 to 50.7 images/s (scripts/bench_train_throughput.py --options). The cost: the process
keeps its peak memory until it exits. BLOCKZOO_MALLOC=default leaves glibc as it is (the A/B switch).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's malloc.h
_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse (once per process); False where there is no glibc
    or BLOCKZOO_MALLOC=default."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("BLOCKZOO_MALLOC") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
