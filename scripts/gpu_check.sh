#!/usr/bin/env bash
# The CUDA paths end to end, on a lent GPU machine with its own PyTorch and no package index (at most 8 minutes):
#     scripts/gpu_wheels.sh              here first: fills .gpu-wheels/ and .gpu-data/ (carry both to the machine)
#     OUT=/some/dir scripts/gpu_check.sh [--dry-run]
# 1. installs the carried wheels (.gpu-wheels/) into a scratch folder, without touching the machine's PyTorch: pure-Python
#    ones always, compiled ones only where the module is missing; then checks that the training path imports;
# 2. runs the test cases that need CUDA (tests/test_gpu.py: bf16 autocast, channels-last, CUDA-event latency, a
#    GPU-resource cell on a local Ray cluster where Ray is installed);
# 3. scripts/gpu_figures.py: the bf16 matmul peak, the full-width baseline's training throughput as a fraction of
#    it, and a short Fashion-MNIST cell (from .gpu-data/fashion-mnist or /usr/share/datasets/fashion-mnist).
# Writes $OUT/gpu_check.json (the figures and each step's outcome) and $OUT/gpu_check.log. OUT defaults to ./gpu-out.
# --dry-run: on this CPU, everything but what needs CUDA: the install into a scratch folder (the wheels for this
# Python), the import check, the GPU tests (which skip, and the log says so), the figures at toy sizes on the CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
[ $# -le $DRY ] || { echo "usage: scripts/gpu_check.sh [--dry-run]" >&2; exit 2; }
OUT=${OUT:-./gpu-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/gpu_check.log
: > "$LOG"
PYTHON=${PYTHON:-python3}
STEPS=()
FAILED=0
say() { echo "$*" | tee -a "$LOG"; }
step() {  # step NAME COMMAND...: run it with a time limit, log it, record its outcome
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    say "== $name: $*"
    timeout "$limit" "$@" >> "$LOG" 2>&1
    local rc=$?
    say "== $name: exit $rc after $((SECONDS - start)) s"
    STEPS+=("{\"step\": \"$name\", \"exit\": $rc, \"seconds\": $((SECONDS - start))}")
    [ $rc = 0 ] || FAILED=$((FAILED + 1))
    return $rc
}

say "gpu_check $(date -u +%FT%TZ), dry run: $DRY, python: $($PYTHON -c 'import sys; print(sys.version.split()[0])')"
if ! $PYTHON -c "import torch" 2>/dev/null; then
    say "error: this machine's $PYTHON has no PyTorch; gpu_check uses the machine's own (set PYTHON=...)"; exit 1
fi
$PYTHON -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee -a "$LOG"
if [ $DRY = 0 ] && ! $PYTHON -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    say "error: CUDA is not available to this PyTorch; run with --dry-run on a machine without a GPU"; exit 1
fi
[ -f .gpu-wheels/pure.txt ] || { say "error: no .gpu-wheels/: run scripts/gpu_wheels.sh where pip works, carry it"; exit 1; }

# 1. the carried wheels, into a scratch folder (first on PYTHONPATH: the checked versions win over the machine's)
SITE=${TMPDIR:-/tmp}/blockzoo-gpu-site
rm -rf "$SITE"
compiled=()
while read -r requirement; do  # compiled wheels only where the module is missing (the machine's own wins)
    [ -n "$requirement" ] || continue
    module=$(echo "${requirement%%==*}" | tr 'A-Z-' 'a-z_' | sed 's/^pyyaml$/yaml/')
    $PYTHON -c "import $module" 2>/dev/null || compiled+=("$requirement")
done < .gpu-wheels/compiled.txt
step install 120 $PYTHON -m pip install --quiet --no-index --no-deps --find-links .gpu-wheels --target "$SITE" \
    -r .gpu-wheels/pure.txt "${compiled[@]}"
export PYTHONPATH=$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}
step imports 120 $PYTHON -c "import sys; sys.path[:0] = ['stages', 'scripts']
import blockzoo.train.run, blockzoo.benchmark.measure, train, gpu_figures, lightning, timm
print('imports ok: lightning', lightning.__version__, 'timm', timm.__version__)"
imports=$?

# 2. the CUDA test cases (they skip without CUDA: in a dry run the log lists the skips)
if [ $imports = 0 ]; then
    step tests 240 $PYTHON -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py
    [ $DRY = 1 ] && say "dry run: the CUDA test cases were collected and skipped (no CUDA here), not run"
    # 3. the figures
    fashion=.gpu-data/fashion-mnist
    [ -d $fashion ] || fashion=/usr/share/datasets/fashion-mnist
    step figures 300 $PYTHON scripts/gpu_figures.py "$OUT/gpu_figures.json" --fashion-mnist "$fashion" \
        $([ $DRY = 1 ] && echo --dry-run)
fi

{
    echo "{\"dry_run\": $([ $DRY = 1 ] && echo true || echo false), \"steps\": [$(IFS=,; echo "${STEPS[*]}")],"
    echo " \"figures\": $(cat "$OUT/gpu_figures.json" 2>/dev/null || echo null)}"
} > "$OUT/gpu_check.json"
say "gpu_check: ${#STEPS[@]} steps, $FAILED failed; figures in $OUT/gpu_check.json, log $LOG"
[ $FAILED = 0 ]
