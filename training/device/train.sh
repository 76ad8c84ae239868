#!/usr/bin/env bash
# Train one entry on a lent GPU machine from the folders training/device/pack.py made.
# Runs on that machine, in the travelled tree's root (training/README.md has the calls):
#   bash training/device/train.sh --check                  environment only (first call)
#   bash training/device/train.sh ENTRY MINUTES [KEY=VALUE ...]
# MINUTES caps the whole run (max_minutes); the stages are sized to 75 % of it from a throughput
# probe of this machine, keeping the recipe's proportions. The exported weights, the logs and
# the validation table are copied to $OUT (at most 8 files come back).
set -euo pipefail
shopt -s nullglob

out=${OUT:-/tmp/out}
mkdir -p "$out"
data=.device/carry-1
export PYTHONPATH=$PWD HF_HUB_OFFLINE=1 ZOO_DATA=$PWD/$data/zoo-data PYTHONUNBUFFERED=1
python=${PYTHON:-python3}

command -v nvidia-smi >/dev/null && nvidia-smi -L
[[ -d $data/zoo-data && -d $data/val ]] || {
    echo "train.sh: $data is missing: carry it (python training/device/pack.py makes it)"; exit 2; }
"$python" -c "import lpips" 2>/dev/null || "$python" -m pip install --quiet --no-index --no-deps $data/wheels/*.whl
"$python" -c "import torch, zoo; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if [[ ${1:-} == --check ]]; then
    exit 0
fi

entry=${1:?usage: train.sh ENTRY MINUTES [KEY=VALUE ...]}
minutes=${2:?usage: train.sh ENTRY MINUTES [KEY=VALUE ...]}
shift 2
for ((n = 1; n <= $(cat $data/groups.txt); n++)); do
    [[ -d .device/carry-$n ]] || {
        echo "train.sh: .device/carry-$n is missing (the machine was given back between calls?):" \
             "make all the calls again, back to back"; exit 2; }
done
train=(.device/carry-*/train)
echo "training folders: ${train[*]} ($(find "${train[@]}" -name '*.webp' | wc -l) images)"
fit=$("$python" -c "print($minutes * 0.75)")
"$python" benchmarks/speed_train.py --data "${train[0]}" --entries "$entry" --steps 5 \
    --fit-minutes "$fit" --fit-out "$out/fit.txt" "$@"
mapfile -t sized < "$out/fit.txt"
run=$(mktemp -d "/tmp/run-$entry.XXXX")  # a fresh folder: a rerun on a warm machine must not resume
"$python" -m zoo train "$entry" --out "$run" --data "${train[@]}" --val $data/val \
    --max-minutes "$minutes" --no-progress "${sized[@]}" "$@" 2>&1 | tee "$out/train.log"
cp "$run/export/model.safetensors" "$run/export/config.json" "$run/export/training.json" \
    "$run/val.csv" "$run/train.csv" "$run/recipe.json" "$out/"
echo "train.sh: results in \$OUT: $(ls "$out" | tr '\n' ' ')"
