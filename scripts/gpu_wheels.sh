#!/usr/bin/env bash
# Fill .gpu-wheels/ (ignored by git) with what scripts/gpu_check.sh installs on a GPU machine that has its own PyTorch
# and no package index, and .gpu-data/fashion-mnist/ with Debian's Fashion-MNIST (for its short cell). Run it here,
# where pip reaches the package mirror:
#     scripts/gpu_wheels.sh            (prints the folders' sizes: with the working tree they must fit in 64 MiB)
# The packages are the distributions that the checks really import (found by importing them here), at the versions
# installed here, without torch, torchvision and their own dependencies (the GPU machine's PyTorch brings those).
# Pure-Python ones as universal wheels; the few small compiled ones as wheels for CPython 3.10-3.13, x86_64 Linux
# (gpu_check.sh installs those only where the machine lacks the module). Left out: Ray (its wheel is ~65 MB) and the
# optional imports pandas, pyarrow, matplotlib (guarded where they are imported).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
WHEELS=.gpu-wheels
rm -rf "$WHEELS" && mkdir -p "$WHEELS"

# name==version of every distribution imported by the training, benchmark and test paths, split pure / compiled
PYTHONPATH=$PWD "$PYTHON" - "$WHEELS" <<'EOF'
import importlib.metadata as md, sys
sys.path[:0] = ["stages", "scripts", "tests"]
import blockzoo.train.run, blockzoo.benchmark.measure, blockzoo.profile.flops, train  # noqa: F401 (stage, library)
import gpu_figures, pytest, conftest  # noqa: F401 (the check's own script and the test runner)
SKIP = {"blockzoo", "torch", "torchvision", "triton", "numpy", "pillow", "sympy", "mpmath", "filelock", "jinja2",
        "markupsafe", "networkx", "fsspec", "typing_extensions", "setuptools", "pip",
        # imported only where present (torchmetrics, pandas and ruamel.yaml guard them): 150 MB of wheels
        "pandas", "pyarrow", "matplotlib", "fonttools", "kiwisolver", "contourpy", "ruamel.yaml.clib"}
tops = md.packages_distributions()
dists = {d for name in list(sys.modules) for d in tops.get(name.split(".")[0], [])}
pure, compiled = [], []
for name in sorted(dists, key=str.lower):
    if name.lower() in SKIP or name.lower().startswith(("nvidia-", "cuda-")):
        continue
    dist = md.distribution(name)
    (pure if "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "") else compiled).append(f"{name}=={dist.version}")
open(f"{sys.argv[1]}/pure.txt", "w").write("\n".join(pure) + "\n")
open(f"{sys.argv[1]}/compiled.txt", "w").write("\n".join(compiled) + "\n")
EOF

# pip wheel: a wheel where the index has one, else built from the sdist (fvcore, iopath have none)
"$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELS" -r "$WHEELS/pure.txt" 2>&1 | grep -v "is ignored: it is neither" || true
for version in 3.10 3.11 3.12 3.13; do
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" -r "$WHEELS/compiled.txt" \
        --python-version "$version" --implementation cp --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 2>&1 | grep -v "is ignored: it is neither" \
        || echo "note: some compiled wheels have no build for CPython $version (gpu_check.sh says which is missing)"
done
mkdir -p .gpu-data
if [ -d /usr/share/datasets/fashion-mnist ]; then
    rm -rf .gpu-data/fashion-mnist && cp -r /usr/share/datasets/fashion-mnist .gpu-data/fashion-mnist
else
    echo "note: no /usr/share/datasets/fashion-mnist (make test-data): gpu_check.sh will skip its Fashion-MNIST cell"
fi
echo "pure: $(wc -l < "$WHEELS/pure.txt") packages; compiled: $(wc -l < "$WHEELS/compiled.txt") packages"
du -sh "$WHEELS" .gpu-data
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
total=$(( tree + $(du -sb "$WHEELS" | cut -f1) + $(du -sb .gpu-data | cut -f1) ))
echo "working tree $((tree / 1048576)) MiB + wheels + data = $((total / 1048576)) MiB (the limit: 64 MiB)"
[ "$total" -le $((64 * 1048576)) ] || { echo "error: over 64 MiB; drop .gpu-data (the Fashion-MNIST cell) or wheels"; exit 1; }
