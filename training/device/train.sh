#!/usr/bin/env bash
# Train entries on a lent GPU machine from the folders training/device/pack.py made.
# Runs on that machine, in the travelled tree's root (training/README.md has the calls):
#   bash training/device/train.sh --check                  environment only (first call)
#   bash training/device/train.sh ENTRY MINUTES [KEY=VALUE ...] [+ ENTRY MINUTES [KEY=VALUE ...]] ...
# Each '+'-separated group is one run; the runs go side by side (one lease holds only one long
# call, and these small networks leave most of a GPU idle). MINUTES caps a run (max_minutes);
# its stages are sized to 60 % of it, divided by the number of runs, from a throughput probe,
# keeping the recipe's proportions. A run that fails does not stop the others. Each run leaves two
# files in $OUT/N-ENTRY/: model.safetensors (the export) and results.tar.gz (config.json,
# training.json, recipe.json, train.csv, val.csv, train.log, fit.txt); at most 8 files come back.
# A run cut at the call's limit leaves instead what salvage.py copied: best.safetensors or
# checkpoint-ema.safetensors, and val.csv.
set -euo pipefail
shopt -s nullglob

out=${OUT:-/tmp/out}
mkdir -p "$out"
data=.device/carry-1
zoo_data=/tmp/zoo-data  # the LPIPS backbones, merged from the carry folders' zoo-data parts
site=/tmp/site  # the lpips wheel goes here: the image's own environment is not ours to change
export PYTHONPATH=$PWD:$site HF_HUB_OFFLINE=1 ZOO_DATA=$zoo_data PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
usage="usage: train.sh ENTRY MINUTES [KEY=VALUE ...] [+ ENTRY MINUTES [KEY=VALUE ...]] ..."

command -v nvidia-smi >/dev/null && nvidia-smi -L
[[ -d $data/zoo-data && -d $data/val ]] || {
    echo "train.sh: $data is missing: carry it (python training/device/pack.py makes it)"; exit 2; }
# pack.py writes groups.txt last: the number of carry folders that must all be here to train.
groups=$(cat "$data/groups.txt" 2>/dev/null) || groups=""
[[ $groups =~ ^[1-9][0-9]*$ ]] || {
    echo "train.sh: $data/groups.txt is missing or not a positive count of carry folders:" \
         "make the pack again (python training/device/pack.py) and carry its folders"; exit 2; }
"$python" -c "import lpips" 2>/dev/null || "$python" -m pip install --quiet --no-index --no-deps \
    --no-compile --no-cache-dir --upgrade --target "$site" $data/wheels/*.whl
"$python" -c "import torch, zoo; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if [[ ${1:-} == --check ]]; then
    exit 0
fi

# Split the arguments into runs at each '+'.
runs=() current=""
for arg in "$@"; do
    if [[ $arg == + ]]; then
        runs+=("$current") current=""
    else
        current+="${current:+$'\x1f'}$arg"
    fi
done
runs+=("$current")
(( ${#runs[@]} * 2 <= 8 )) || { echo "train.sh: at most 4 runs (8 files come back)"; exit 2; }
for spec in "${runs[@]}"; do
    IFS=$'\x1f' read -r -a words <<< "$spec"
    [[ ${#words[@]} -ge 2 && ${words[1]} =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "train.sh: $usage"; exit 2; }
done

for ((n = 1; n <= groups; n++)); do
    [[ -d .device/carry-$n ]] || {
        echo "train.sh: .device/carry-$n is missing (the machine was given back between calls?):" \
             "make all the calls again, back to back"; exit 2; }
done
mkdir -p "$zoo_data/lpips"
for backbone in .device/carry-*/zoo-data/lpips/*; do ln -sf "$PWD/$backbone" "$zoo_data/lpips/"; done
train=(.device/carry-*/train)
echo "training folders: ${train[*]} ($(find "${train[@]}" -name '*.webp' | wc -l) images)"

# While a run trains, salvage.py copies its weights (the best generator by validation, else the
# newest checkpoint's EMA generator) and val.csv into its $OUT folder every 20 s, so that a call
# killed at its limit still returns what was trained: what is under $OUT comes back even then.
here=$(dirname "${BASH_SOURCE[0]}")
salvage=("$python" "$here/salvage.py")
salvage_every=${SALVAGE_SECONDS:-20}

# Stop the salvager and wait for it: nothing writes into $dest after this. SIGTERM ends it once
# the pass under way is written; SIGUSR1 after one more pass (a failed run keeps what it left).
stop_salvager() {
    kill -"$2" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# One run: probe, size, train, pack. Its output goes to its own log; failures stay in it.
train_one() {
    local dest=$1 entry=$2 minutes=$3
    shift 3
    local fit run sized
    # Measured on the H200 (2026-12-04), validation and checkpoints included: a run alone went at
    # 0.69 of its probe's rate (a NoGAN cycle validating every 100 steps), two side by side at
    # 0.54-0.57 each (the probes are short and barely overlap). Hence 60 % and the 1 / runs.
    fit=$("$python" -c "print($minutes * 0.6 / ${#runs[@]})")
    "$python" benchmarks/speed_train.py --data "${train[0]}" --models "$entry" --steps 5 \
        --fit-minutes "$fit" --fit-out "$dest/fit.txt" "$@"
    mapfile -t sized < "$dest/fit.txt"
    # A fresh folder: a rerun on a warm machine must not resume.
    run=$(mktemp -d "${TMPDIR:-/tmp}/run-$entry.XXXX")
    "${salvage[@]}" "$run" "$dest" --every "$salvage_every" &
    local salvager=$!
    trap "stop_salvager $salvager USR1" EXIT
    "$python" -m zoo train "$entry" --out "$run" --data "${train[@]}" --val $data/val \
        --max-minutes "$minutes" --no-progress "${sized[@]}" "$@"
    trap - EXIT
    stop_salvager $salvager TERM
    # the export first: a kill between the two leaves the salvaged weights, not nothing
    cp "$run/export/model.safetensors" "$dest/"
    cp "$run/export/config.json" "$run/export/training.json" "$run/val.csv" "$run/train.csv" \
        "$run/recipe.json" "$dest/"
    rm -f "$dest"/{best,checkpoint-ema}.safetensors "$dest"/.*.tmp
}

pids=() dests=()
for i in "${!runs[@]}"; do
    IFS=$'\x1f' read -r -a words <<< "${runs[$i]}"
    dest="$out/$((i + 1))-${words[0]}"
    mkdir -p "$dest"
    echo "run $((i + 1)): ${words[*]}"
    ( set -o pipefail; train_one "$dest" "${words[@]}" 2>&1 | tee "$dest/train.log" \
        | sed -u "s/^/[$((i + 1))-${words[0]}] /" ) &
    pids+=($!) dests+=("$dest")
done

failed=0
for i in "${!pids[@]}"; do
    dest=${dests[$i]}
    if wait "${pids[$i]}"; then status=ok; else status=FAILED failed=1; fi
    # Everything but the weights goes into one archive, so that 4 runs fit the 8 files.
    (cd "$dest" && files=(*.json *.csv *.log *.txt) && tar -czf results.tar.gz "${files[@]}" \
        && rm -f "${files[@]}") || echo "train.sh: could not pack the results of $dest"
    echo "train.sh: $(basename "$dest"): $status: $(ls "$dest" | tr '\n' ' ')"
done
exit $failed
