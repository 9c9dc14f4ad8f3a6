"""Run the pipeline's cells on a Ray cluster; DVC's remote and run-cache carry the results back.

    python -m blockzoo_cluster run [--address ADDR] [--remote NAME] [--jobs N] [TARGETS...]

plan.py     the driver's view of the pipeline through DVC: which cells are stale, what each needs
worker.py   one cell on a worker: a clean checkout of the commit, `dvc repro`, `dvc push`
driver.py   Ray: submit the cells in dependency order, show progress, restore the results with `dvc repro`
settings.py params.yaml's `cluster` section (what each cell asks of a node)

Unlike the rest of blockzoo this package knows DVC: it drives the pipeline, it is not measured by it.
Ray is imported only by driver.py and worker.py, so reading the settings needs no Ray.
"""
