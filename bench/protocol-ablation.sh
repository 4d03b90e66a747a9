#!/usr/bin/env bash
# Issue #15 item 2: one Dynamic LoRA variant (extra train flags) on the protocol of BENCHMARKS.md ("Protocol that
# separates methods": bge-small-en-v1.5, all-linear targets, rank 8, batch 32, max length 128, 5 epochs, SST-2 on its
# first 20,000 examples for 1 epoch), at one learning rate and seed, run by run with `train`, so that each run is the
# grid's run of the same (task, method, lr, seed) with only the variant's flags added. Then a table against the
# grid's runs of the same rate and seed (GRID, default bench-out/glue-protocol-bge-main): the variant, Dynamic LoRA
# as the grid ran it, and LoRA.
# Resumable: a run whose metrics.jsonl has its summary is skipped, an interrupted one resumed (train --resume).
# Usage: bench/protocol-ablation.sh OUT "FLAGS" [TASKS] [LR] [SEED] [THREADS]
#   e.g. bench/protocol-ablation.sh bench-out/ablation-gate-centre "--gate-centre" cola,mrpc,stsb,rte,sst2 5e-4 1
# TABLE_ONLY=1 prints the table without running anything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="${MODEL:-$SHARED/models/bge-small-en-v1.5}"
GRID="${GRID:-$ROOT/bench-out/glue-protocol-bge-main}"
OUT="${1:?usage: bench/protocol-ablation.sh OUT FLAGS [TASKS] [LR] [SEED] [THREADS]}"
FLAGS="${2?usage: bench/protocol-ablation.sh OUT FLAGS [TASKS] [LR] [SEED] [THREADS]}"
TASKS="${3:-cola,sst2,mrpc,stsb,rte}"
LR="${4:-5e-4}"
SEED="${5:-1}"
THREADS="${6:-2}"
mkdir -p "$OUT"

finished() { [ -f "$1/metrics.jsonl" ] && grep -q '"type":"summary"' "$1/metrics.jsonl"; }

if [ "${TABLE_ONLY:-0}" != 1 ]; then
  echo "$FLAGS" > "$OUT/flags.txt"
  for task in ${TASKS//,/ }; do
    run="$OUT/$task-lr$LR-s$SEED"
    if finished "$run"; then continue; fi
    echo "$(date -u +%H:%M:%S) $task lr $LR seed $SEED: $FLAGS" >&2
    if [ -f "$run/checkpoint.safetensors" ] && \
        "$ROOT/bin/dynalora" train --resume --out "$run" --threads "$THREADS" >> "$run.log" 2>&1; then
      continue
    fi
    epochs=5; limit=0
    if [ "$task" = sst2 ]; then epochs=1; limit=20000; fi
    # shellcheck disable=SC2086
    "$ROOT/bin/dynalora" train --model "$MODEL" --task "$task" --data "$SHARED/glue" --method dynamic --rank 8 \
      --targets all-linear --epochs "$epochs" --limit "$limit" --batch 32 --max-len 128 --lr "$LR" --seed "$SEED" \
      --threads "$THREADS" --log-every 10 --save-every 500 --out "$run" --overwrite $FLAGS > "$run.log" 2>&1
  done
fi

/usr/bin/python3 - "$OUT" "$GRID" "$TASKS" "$LR" "$SEED" "$FLAGS" <<'PY'
import json, os, sys
out, grid, tasks, lr, seed, flags = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4], sys.argv[5], sys.argv[6]

def summary(run):
    f = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(f):
        return None
    for line in open(f):
        r = json.loads(line)
        if r.get("type") == "summary":
            return r
    return None

def best(run):
    s = summary(run)
    return None if s is None else 100 * s["best"]["score"]

cols = [("variant (" + flags + ")", lambda t: best(f"{out}/{t}-lr{lr}-s{seed}")),
        ("dynamic (grid)", lambda t: best(f"{grid}/{t}-dynamic-lr{lr}-s{seed}")),
        ("lora (grid)", lambda t: best(f"{grid}/{t}-lora-lr{lr}-s{seed}"))]
print(f"lr {lr}, seed {seed}; best-epoch dev score x 100 as the grid scores it (the mean of the task's metrics: MCC for CoLA, accuracy and F1 for MRPC, Pearson and Spearman for STS-B, accuracy otherwise)")
print("| task | " + " | ".join(c for c, _ in cols) + " |")
print("| --- |" + " ---: |" * len(cols))
sums = [[] for _ in cols]
for t in tasks:
    vals = [f(t) for _, f in cols]
    for i, v in enumerate(vals):
        sums[i].append(v)
    print(f"| {t} | " + " | ".join("" if v is None else f"{v:.1f}" for v in vals) + " |")
avg = ["" if any(v is None for v in s) else f"{sum(s) / len(s):.2f}" for s in sums]
print("| average | " + " | ".join(avg) + " |")
PY
