"""scripts/gpu_check.sh parses, refuses a bad argument, and its dry run (this CPU: everything up to what needs CUDA)
passes and writes its JSON; the dry run needs the carried wheels, which the test builds with scripts/gpu_wheels.sh
(pip's package index, and Debian's Fashion-MNIST that `make test` installs) when they are absent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gpu_check.sh"
ENV = {**os.environ, "PYTHON": sys.executable, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_the_scripts_parse():
    for script in (SCRIPT, REPO / "scripts" / "gpu_wheels.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_a_bad_argument_is_a_usage_line_and_exit_2(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--wet-run"], capture_output=True, text=True,
                          env={**ENV, "OUT": str(tmp_path)})
    assert proc.returncode == 2 and proc.stderr.strip() == "usage: scripts/gpu_check.sh [--dry-run]"


def test_the_dry_run_passes_and_writes_its_figures(tmp_path):
    if not (REPO / ".gpu-wheels" / "pure.txt").is_file():
        subprocess.run(["bash", str(REPO / "scripts" / "gpu_wheels.sh")], check=True, env=ENV, timeout=600,
                       capture_output=True)
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=300,
                          env={**ENV, "OUT": str(tmp_path / "out"), "TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert result["dry_run"] and [s["step"] for s in result["steps"]] == ["install", "imports", "tests", "figures"]
    assert all(s["exit"] == 0 for s in result["steps"])
    figures = result["figures"]
    assert figures["dry_run"] and figures["env"]["device"] == "cpu"
    assert figures["wide_baseline"]["full_loop_images_per_s"] > 0 and figures["matmul_peak_tflops"]["value"] > 0
    assert figures["fashion_mnist_cell"]["status"] == "completed"
    assert "skipped (no CUDA here), not run" in (tmp_path / "out" / "gpu_check.log").read_text()
