"""How long blockzoo takes to read a full-size BLOX release, per format, and the memory it needs.

Generates a release of --n networks (default 91,125, BLOX's) x --epochs (default 200) with blockzoo's writer
(byte for byte BLOX's format) into a temporary folder, then, in a fresh process per measurement, reads each
file alone (bloxio.read_file) and the whole release through BLOX's API (blox_api.from_folder, extended, with
static and environment information), each --runs times; prints the median times, and the memory of one more
run under tracemalloc (Python's and numpy's allocations): its peak while loading, and what the loaded data keeps.

    python scripts/bench_blox_load.py                       # the full size (generation takes minutes)
    python scripts/bench_blox_load.py --n 5000 --epochs 50  # a quick look
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blockzoo.environment import cpu_model  # noqa: E402

FORMATS = (".blox", ".pickle", ".csv")
CHILD = """
import json, sys, time, tracemalloc
sys.path.insert(0, {root!r})
from blockzoo.macro import blox_api, bloxio
if {traced}:
    tracemalloc.start()
start = time.perf_counter()
what = {what!r}
if what == "folder":
    d = blox_api.from_folder({folder!r}, extended={extended}, include_static_info=True, include_env_info=True,
                             preferred_ext=[{ext!r}])
    rows = len(d)
else:
    d = bloxio.read_file(what)
    rows = len(d[1])
seconds = time.perf_counter() - start
current, peak = tracemalloc.get_traced_memory() if {traced} else (0, 0)
print(json.dumps({{"seconds": seconds, "rows": rows, "peak_mib": peak / 2**20, "kept_mib": current / 2**20}}))
"""


def child(what: str, folder: Path, ext: str, extended: bool, traced: bool) -> dict:
    code = CHILD.format(root=str(ROOT), what=what, folder=str(folder), ext=ext, extended=extended, traced=traced)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(what: str, folder: Path, ext: str, extended: bool, runs: int) -> dict:
    """The median time of `runs` plain runs; the memory (Python's and numpy's allocations, tracemalloc) of one more:
    its peak while loading and what the loaded data keeps."""
    times = [child(what, folder, ext, extended, False) for _ in range(runs)]
    memory = child(what, folder, ext, extended, True)
    return {"seconds": statistics.median(r["seconds"] for r in times), "rows": times[0]["rows"],
            "peak_mib": memory["peak_mib"], "kept_mib": memory["kept_mib"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=91125)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--parts", default="info,base,env,ext", help="the parts generated (default all four)")
    p.add_argument("--keep", metavar="DIR", help="write the release here and keep it (default: a temporary folder)")
    p.add_argument("--existing", action="store_true", help="time the release already in --keep (no generation)")
    args = p.parse_args()
    from blockzoo.macro import bloxrelease

    parts = [part.strip() for part in args.parts.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        print(f"# {args.n:,} networks x {args.epochs} epochs, {', '.join(parts)}; {cpu_model()}, Python "
              f"{platform.python_version()}", flush=True)
        for part in [] if args.existing else parts:  # one part in memory at a time
            start = time.perf_counter()
            rows, env_keys = bloxrelease.synthetic(args.n, args.epochs, parts=[part])
            made = time.perf_counter() - start
            for suffix in FORMATS:
                start = time.perf_counter()
                path = bloxrelease.write_release(folder, rows, epochs=args.epochs, env_keys=env_keys,
                                                 formats=[suffix])[0]
                seconds = time.perf_counter() - start
                print(f"wrote {path.name:<20} {path.stat().st_size / 2**20:8.1f} MiB in {seconds:6.1f} s (rows made in "
                      f"{made:.1f} s)", flush=True)
            del rows
        print(f"\n{'file':<20} {'read (median s)':>16} {'peak (MiB)':>11} {'kept (MiB)':>11}")
        for suffix in FORMATS:
            for part in parts:
                path = folder / f"{bloxrelease.part_name(part, 0)}{suffix}"
                m = measure(str(path), folder, suffix, False, args.runs)
                print(f"{path.name:<20} {m['seconds']:16.2f} {m['peak_mib']:11.0f} {m['kept_mib']:11.0f}", flush=True)
        print(f"\n{'from_folder, all parts':<24} {'median s':>9} {'peak (MiB)':>11} {'kept (MiB)':>11}")
        for suffix in FORMATS:
            m = measure("folder", folder, suffix, "ext" in parts, args.runs)
            print(f"{suffix:<24} {m['seconds']:9.2f} {m['peak_mib']:11.0f} {m['kept_mib']:11.0f}  ({m['rows']:,} "
                  "networks)", flush=True)


if __name__ == "__main__":
    main()
