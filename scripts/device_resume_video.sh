#!/usr/bin/env bash
# Resume the Moving-MNIST DVD-GAN run from training-state/ on a lent GPU for a time budget, and put
# its newest checkpoint into OUT_DIR as files the device tool brings back (each under 16 MiB).
#
#   bash scripts/device_resume_video.sh OUT_DIR [TIME_LIMIT] [DEVICE]     # defaults: 6m, cuda
#
# Back on the development machine, rebuild the checkpoint and carry it on (see training-state/README.md):
#   bash scripts/device_resume_video.sh --unpack FILES_DIR training-state/video-moving-mnist
set -euo pipefail

if [[ "${1:-}" == "--unpack" ]]; then
    src=$2; dest=$3
    part=$(ls "$src"/training_state.step-*.part-00)
    step=$(basename "$part" | sed 's/^training_state\.\(step-[0-9]*\)\.part-00$/\1/')
    ckpt="$dest/checkpoints/$step"
    rm -rf "$dest/checkpoints" && mkdir -p "$ckpt/model"
    cp "$src/config.json" "$src/model.safetensors" "$ckpt/model/"
    cp "$src/ema.safetensors" "$ckpt/"
    cat "$src/training_state.$step".part-* | gzip -9 > "$ckpt/training_state.pt.gz"
    cp "$src/metrics.jsonl" "$src/training_options.json" "$dest/"
    echo "unpacked $step into $dest"
    exit 0
fi

out=${1:?usage: device_resume_video.sh OUT_DIR [TIME_LIMIT] [DEVICE]}
limit=${2:-6m}
device=${3:-cuda}
run=${RUN_DIR:-runs/mmnist-device}
state=training-state/video-moving-mnist
[[ -d "$state/checkpoints" ]] || { echo "no checkpoint under $state" >&2; exit 1; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"     # the device image has torch; multigan runs from the tree
rm -rf "$run" && mkdir -p "$run" && cp -r "$state/." "$run/"
gunzip "$run"/checkpoints/step-*/training_state.pt.gz
python -m multigan.cli train video --out "$run" --steps 20000 --checkpoint-every 1000 --ema-decay 0.995 \
    --device "$device" --time-limit "$limit" --resume 2>&1 | tr '\r' '\n' | awk '!/^DVDGAN/ || NR % 250 == 0'   # every 250th bar line
newest=$(ls -d "$run"/checkpoints/step-* | sort | tail -1)
mkdir -p "$out"
step=$(basename "$newest")
cp "$newest/model/config.json" "$newest/model/model.safetensors" "$newest/ema.safetensors" "$out/"
split -b 15M -d "$newest/training_state.pt" "$out/training_state.$step.part-"   # ≤ 8 files come back
cp "$run/metrics.jsonl" "$run/training_options.json" "$out/"
[[ -f "$run/final/training.json" ]] && cp "$run/final/training.json" "$out/"
ls -la "$out"
