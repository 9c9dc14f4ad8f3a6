"""Stage `download`: fetch and verify the dataset into data/<dataset>/ (a cached DVC output)."""
from __future__ import annotations

import sys

from common import ROOT, cli_errors, stage_params

from blockzoo import data


def dataset_root(data_params: dict):
    return ROOT / data_params["root"] / data_params["dataset"]


def fetch_options(data_params: dict) -> dict:
    return {"url": data_params.get("url"), "archive": data_params.get("archive"), "md5": data_params.get("md5")}


@cli_errors
def main() -> None:
    settings = stage_params()["data"]
    folder = data.fetch(settings["dataset"], dataset_root(settings), **fetch_options(settings))
    print(f"{settings['dataset']} ready in {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
