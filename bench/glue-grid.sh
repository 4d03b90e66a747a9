#!/usr/bin/env bash
# Runs a grid of GLUE fine-tuning runs with the CLI and prints one Markdown row per run (dev scores from
# each run's metrics.jsonl summary). Usage:
#   bench/glue-grid.sh OUT_DIR "mrpc rte" "lora dynamic adalora" "1" [extra train flags...]
# A run whose folder already has a summary is not run again (so an interrupted grid resumes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$1"; TASKS="$2"; METHODS="$3"; SEEDS="$4"; shift 4
MODEL="${MODEL:-$ROOT/../shared/models/all-MiniLM-L6-v2}"
DATA="${DATA:-$ROOT/../shared/glue}"
mkdir -p "$OUT"
for task in $TASKS; do
  for method in $METHODS; do
    for seed in $SEEDS; do
      run="$OUT/$task-$method-s$seed"
      if [ -f "$run/metrics.jsonl" ] && grep -q '"type":"summary"' "$run/metrics.jsonl"; then continue; fi
      lr=5e-4; [ "$method" = full ] && lr=5e-5
      "$ROOT/bin/dynalora" train --model "$MODEL" --task "$task" --data "$DATA" --method "$method" \
        --out "$run" --overwrite --seed "$seed" --lr "$lr" "$@" > "$run.summary.json" 2> "$run.stderr" || echo "FAILED $run" >&2
    done
  done
done
python3 - "$OUT" <<'PY'
import json, sys, glob, os
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "metrics.jsonl"))):
    s = [json.loads(l) for l in open(f) if '"type":"summary"' in l]
    if not s: continue
    s = s[-1]
    fmt = lambda m: ", ".join("%s %.4f" % (k, v) for k, v in m.items())
    rows.append("| %s | %s | %s | %d | %d | %s | %s | %.0f | %d |" % (os.path.basename(os.path.dirname(f)), s["task"], s["method"],
        s["trainable_params"], s["active_trainable_params"], fmt(s["best"]), fmt(s["final"]), s["train_time_s"], s["tokens_per_s"]))
print("| run | task | method | trainable | active | best dev | final dev | train s | tokens/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
print("\n".join(rows))
PY
