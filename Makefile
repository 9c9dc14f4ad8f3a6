# Two commands do all the set-up on a fresh machine:
#   make run    create .venv with the pinned dependencies, then run the main job
#   make test   create .venv with the pinned dependencies and the test data, then lint and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: run test lint params venv test-data clean-venv retime why committed

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

# The main job: the whole DVC pipeline (download, cells, profile, benchmark, train, aggregate).
# Then the latencies timed on a busy machine are timed again if it is quiet within a minute (else `make retime`).
run: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" dvc repro
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" python -m blockzoo_cluster retime --wait 60 || true

# The committed results back after a try-out (`dvc exp run -S setting=tryout` wrote over them; it stays an
# experiment: `dvc exp apply NAME` brings it back).
committed:
	git checkout HEAD -- dvc.lock params.yaml pipeline metrics results plots
	git clean -fdq -- pipeline metrics results plots

# What `dvc repro` would run now, and why: the cells by name, with the file or setting that changed.
why: $(STAMP)
	$(VENV)/bin/python -m blockzoo_cluster why

# Time again every latency timed on a busy machine, once it is quiet (waits up to 10 minutes), then aggregate.
retime: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" python -m blockzoo_cluster retime

# A real dataset for the tests: Debian's Fashion-MNIST (root, or sudo, installs it once).
test-data:
	@test -d $(FASHION_MNIST) || { SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get install -y dataset-fashion-mnist >/dev/null 2>&1 || \
		{ $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y dataset-fashion-mnist >/dev/null; }; }
	@test -d $(FASHION_MNIST) || { echo "error: could not install dataset-fashion-mnist (apt-get); install it, then run make test again"; exit 1; }

lint: $(STAMP)
	$(VENV)/bin/ruff check blockzoo blockzoo_cluster stages scripts tests conf

# two workers, each file's tests in order on one of them (the files' shared fixtures stay whole); one torch
# thread each: two workers of two threads on two cores made the suite 941 s against 812 s (2026-12-03)
test: $(STAMP) test-data lint
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/python -m pytest -n 2 --dist loadfile --durations=15

# Write conf/config.yaml from the settings classes, then compose params.yaml from conf/ (as `dvc exp run`
# does): after changing a default or a file under conf/setting/; commit what changed.
params: $(STAMP)
	$(VENV)/bin/python scripts/write_conf.py
	$(VENV)/bin/python scripts/compose_params.py

clean-venv:
	rm -rf $(VENV)
