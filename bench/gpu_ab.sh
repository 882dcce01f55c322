#!/bin/bash
# GPU batched throughput of two trees, run alternately on one GPU machine.
#
# Machines lent for GPU work differ by up to 40% in the page readers' CPU per page (their
# CPUs bound the whole pipeline), so a change is judged only against a baseline measured in
# the same call. Prepare both here, then run this there:
#
#   git archive REV | (mkdir -p runs/ab/base && tar -x -C runs/ab/base)   # the baseline
#   python bench/digitize.py --save-pages runs/ab/pages --pages 16         # the pages
#   bash bench/gpu_ab.sh runs/ab/base runs/ab/pages [ROUNDS] [WORKERS]     # on the GPU host
#
# ROUNDS (default 2): baseline then this tree, that many times; WORKERS (default 16,18):
# page-reading process counts for this tree (the baseline runs the first). DRY=1 runs the
# batched path on the CPU (a check of this script on a machine without a GPU). PROFILE=N
# then profiles this tree's page readers alone and N at once (`bench/reader_profile.py`).
set -u
base=$(cd "$1" && pwd); pages=$(cd "$2" && pwd); rounds=${3:-2}; workers=${4:-16,18}
here=$(pwd)
export PYTHONUNBUFFERED=1
dry=()
[ -n "${DRY:-}" ] && dry=(--dry-run-batched --gpu-pages-per-worker 2 --gpu-batch 2)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {  # tree, workers
    echo "=== $1 workers $2 $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    (cd "$1" && PYTHONPATH="$1" python3 bench/digitize.py --images "$pages" --gpu-only \
        --gpu-workers "$2" --pages 16 "${dry[@]}" 2>&1 | grep -v Warning)
}
for _ in $(seq "$rounds"); do
    run "$base" "${workers%%,*}"
    run "$here" "$workers"
done
if [ -n "${PROFILE:-}" ]; then
    echo "=== reader profile, 1 and $PROFILE readers $(date +%T)"
    PYTHONPATH="$here" python3 bench/reader_profile.py --images "$pages" --pages 16 \
        --readers "1,$PROFILE" --top 30 2>&1 | grep -v Warning
fi
