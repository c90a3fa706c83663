#!/usr/bin/env bash
# The prepared GPU run of the papers' deep presets (issue 15; README: "GPU run (paper presets)").
#
#   bench/gpu_paper_presets.sh OUT [--quick] [--carry DIR] [--budget per_image_s,min_s,max_s] [-- RUN ARGS]
#
# On the GPU machine (torch, torchvision, scikit-learn, scikit-image, OpenCV, pandas, matplotlib
# installed; no package registry): installs the wheels carried in gpu_carry/wheels (written by
# bench/gpu_prepare.py) without touching the network, makes the repository importable (PYTHONPATH),
# then bench/gpu_presets.py checks CUDA (exit 3 without it, unless --quick), runs
# `python -m benchmark run --suite deep` on the carried BIQ2021-dev subset and synth with every
# CNN at its paper preset, writes the tables to OUT/run/ and prints the throughput last.
set -euo pipefail
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 OUT [--quick] [--carry DIR] [--budget per_image_s,min_s,max_s] [-- RUN ARGS]" >&2
    exit 2
fi
OUT=$1
shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARRY="$HERE/gpu_carry"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" = "--" ] && break
    if [ "${args[$i]}" = "--carry" ] && [ $((i + 1)) -lt ${#args[@]} ]; then CARRY=${args[$((i + 1))]}; fi
done
PY=${PYTHON:-python}
mkdir -p "$OUT"
t0=$(date +%s)
if ! "$PY" -c "import pywt, pyrtools, openpyxl" 2>/dev/null; then
    echo "installing the carried wheels from $CARRY/wheels"
    "$PY" -m pip install --quiet --no-index --no-deps --find-links "$CARRY/wheels" "$CARRY"/wheels/*.whl
    "$PY" -c "import pywt, pyrtools, openpyxl"
fi
echo "wheels ready in $(( $(date +%s) - t0 )) s"
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
export IQABENCH_OFFLINE=1
exec "$PY" "$HERE/bench/gpu_presets.py" "$OUT" "$@"
