"""Stage `download`: fetch and verify the dataset into its folder (a cached DVC output), and decode it once
there (decoded/: uint8 .npy files every cell memory-maps).
Usage (dvc.yaml): python stages/download.py OUT_DIR"""
from __future__ import annotations

import sys

from common import ROOT, cli_errors, stage_params

from blockzoo.data.decoded import write_decoded
from blockzoo.data.fetch import fetch


@cli_errors
def main(out_dir: str) -> None:
    data = stage_params()["data"]  # checked by the cells stage, which runs first; fetch() checks the source again
    folder = fetch(data["dataset"], ROOT / out_dir, url=data["url"], archive=data["archive"], md5=data["md5"])
    write_decoded(data["dataset"], ROOT / out_dir)
    print(f"{data['dataset']} ready in {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
