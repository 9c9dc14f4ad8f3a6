"""Where a number was measured: software versions, hardware, threads, git commit."""
from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def collect_environment(device: str | torch.device = "cpu") -> dict:
    """The environment block every results row carries (columns `<section>.env.*`)."""
    import timm
    import torchvision

    device = torch.device(device)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "platform": f"{platform.system()}-{platform.machine()}",
        "device": device.type,
        "cpu_model": cpu_model(),
        "gpu_model": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the blockzoo checkout, with '-dirty' when the library or stage code differs from it."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = git("diff", "--quiet", "HEAD", "--", "blockzoo", "stages").returncode != 0
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def loaded_code() -> dict[str, str]:
    """{file: sha256} of the blockzoo code loaded in this process (command-line modules left out) and of
    the user block modules, by path relative to the repository: the code that is making a result."""
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name.endswith("__main__") or name == "blockzoo.cli":
            continue
        if name == "blockzoo" or name.startswith(("blockzoo.", "blockzoo_user_")):
            path = Path(path).resolve()
            key = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
            files[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(files.items()))
