#!/usr/bin/env bash
# Renders the segmenter's training pages and trains the shipped network (weights/MODEL_CARD.md).
#
#   scripts/train_segmenter.sh DATA_DIR [OUT.pt]
#
# Made for one GPU and 16 CPU cores (about 2 minutes of rendering, 5 of training on an H200);
# on a CPU it runs too, only far slower. Environment: DEVICE (cuda), WORKERS (16: rendering
# processes), CROP_WORKERS (4: processes that cut and augment crops for the GPU).
# The records are ../shared/data/ptbxl, or $ECGBRIDGE_PTBXL_DIR; only train- and val-split
# records are used. Text is drawn with the DejaVu fonts when they are installed (they were for
# the shipped weights; see pipeline/synth/fonts.py).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: scripts/train_segmenter.sh DATA_DIR [OUT.pt]}
out=${2:-weights/segmenter.pt}
workers=${WORKERS:-16}

python -m pipeline.synth make --preset mixed --n 1000 --out "$data/mixed" --seed 20 --split train --workers "$workers"
python -m pipeline.synth make --preset photo --n 500 --out "$data/photo" --seed 21 --split train --workers "$workers"
python -m pipeline.synth make --preset mixed --n 48 --out "$data/mixed" --seed 22 --split val --workers "$workers"
mkdir -p "$data/photo/val"  # the photo set has no val pages of its own

python -m pipeline.train --data "$data/mixed" "$data/photo" --widths 12,24,48,96,192 \
    --batch 32 --crop 256 --steps 5100 --lr 3e-3 --warmup 300 --seed 4 \
    --val-every 2000 --ckpt-every 500 --val-pages 12 --threads 1 --load-workers 4 \
    --crop-workers "${CROP_WORKERS:-4}" --device "${DEVICE:-cuda}" \
    --out "$out" --run-dir "$data/run"
