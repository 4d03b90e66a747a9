#!/usr/bin/env bash
# Issue #15 item 4: LoRA, AdaLoRA and Dynamic LoRA on the decoder tasks at one budget (rank 8 on q_proj,v_proj of
# stories15M, the CLI's defaults otherwise: lr 1e-3, batch 16, 1 epoch), seeds 1..SEEDS:
#   lm  : tinyshakespeare, validation perplexity (exp of the last epoch's validation loss);
#   sft : the first 20,000 pairs of sst2-sft/train.jsonl, then greedy completions (4 new tokens) of the 872 reviews
#         of valid.jsonl, correct when the completion (leading spaces stripped) begins with the label, as
#         bench/llama-sft-vs-torch.sh scores them.
# Resumable: a run whose metrics.jsonl has its summary is skipped, an interrupted one resumed (train --resume), a
# predictions file that exists is kept. Prints a table (mean ± std over seeds; wins/ties/losses against LoRA paired
# by seed; active parameters) at the end, and with TABLE_ONLY=1 without running anything.
# Usage: bench/decoder-methods.sh OUT [SEEDS] [THREADS]    (MODEL, SHARED, METHODS override; EXTRA adds train
# flags, e.g. EXTRA="--limit 32 --eval-limit 8" MODEL=../shared/models/stories260K for a smoke run)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="${MODEL:-$SHARED/models/stories15M}"
OUT="${1:?usage: bench/decoder-methods.sh OUT [SEEDS] [THREADS]}"
SEEDS="${2:-3}"
THREADS="${3:-1}"
METHODS="${METHODS:-lora adalora dynamic}"
mkdir -p "$OUT/sft-data"
[ -f "$OUT/sft-data/train.jsonl" ] || head -n 20000 "$SHARED/data/sst2-sft/train.jsonl" > "$OUT/sft-data/train.jsonl"
[ -f "$OUT/sft-data/valid.jsonl" ] || cp "$SHARED/data/sst2-sft/valid.jsonl" "$OUT/sft-data/valid.jsonl"
[ -f "$OUT/prompts.jsonl" ] || /usr/bin/python3 -c "import json,sys; [print(json.dumps({'prompt': json.loads(l)['prompt']})) for l in open(sys.argv[1]) if l.strip()]" \
  "$OUT/sft-data/valid.jsonl" > "$OUT/prompts.jsonl"

finished() { [ -f "$1/metrics.jsonl" ] && grep -q '"type":"summary"' "$1/metrics.jsonl"; }

train() {   # train RUN_DIR TASK DATA METHOD SEED
  local run="$1"
  if finished "$run"; then return 0; fi
  if [ -f "$run/checkpoint.safetensors" ]; then
    if "$ROOT/bin/dynalora" train --resume --out "$run" --threads "$THREADS" >> "$run.log" 2>&1; then return 0; fi
  fi
  "$ROOT/bin/dynalora" train --model "$MODEL" --task "$2" --data "$3" --method "$4" --seed "$5" --epochs 1 \
    --batch 16 --max-len 256 --rank 8 --targets q_proj,v_proj --threads "$THREADS" --out "$run" --overwrite ${EXTRA:-} \
    > "$run.log" 2>&1
}

if [ "${TABLE_ONLY:-0}" != 1 ]; then
  for seed in $(seq 1 "$SEEDS"); do
    for method in $METHODS; do
      echo "$(date -u +%H:%M:%S) lm $method seed $seed" >&2
      train "$OUT/lm-$method-s$seed" lm "$SHARED/data/tinyshakespeare" "$method" "$seed"
      echo "$(date -u +%H:%M:%S) sft $method seed $seed" >&2
      train "$OUT/sft-$method-s$seed" sft "$OUT/sft-data" "$method" "$seed"
      pred="$OUT/sft-$method-s$seed/predictions.jsonl"
      if [ ! -f "$pred" ]; then
        "$ROOT/bin/dynalora" generate --model "$MODEL" --adapter "$OUT/sft-$method-s$seed" --input "$OUT/prompts.jsonl" \
          --output "$pred.tmp" --overwrite --max-new-tokens 4 --threads "$THREADS" 2>> "$OUT/sft-$method-s$seed.log"
        mv "$pred.tmp" "$pred"
      fi
    done
  done
fi

/usr/bin/python3 - "$OUT" "$SEEDS" $METHODS <<'PY'
import json, math, os, sys
out, seeds, methods = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
labels = [json.loads(l)["completion"].strip() for l in open(out + "/sft-data/valid.jsonl") if l.strip()]

def summary(run):
    p = os.path.join(out, run, "metrics.jsonl")
    if not os.path.exists(p):
        return None
    for line in open(p):
        r = json.loads(line)
        if r.get("type") == "summary":
            return r
    return None

def last_eval_loss(run):
    loss = None
    for line in open(os.path.join(out, run, "metrics.jsonl")):
        r = json.loads(line)
        if r.get("type") == "eval":
            loss = r["metrics"]["loss"]
    return loss

def ppl(method, seed):
    run = "lm-%s-s%d" % (method, seed)
    return math.exp(last_eval_loss(run)) if summary(run) else None

def acc(method, seed):
    p = os.path.join(out, "sft-%s-s%d" % (method, seed), "predictions.jsonl")
    if not os.path.exists(p):
        return None
    preds = [json.loads(l)["completion"].strip() for l in open(p) if l.strip()]
    return 100.0 * sum(1 for q, y in zip(preds, labels) if q.startswith(y)) / len(labels)

def stat(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return ("%.2f ± %.2f" % (m, sd) if len(xs) > 1 else "%.2f" % m) + " (n=%d)" % len(xs)

def paired(f, method, better_low):
    w = t = l = 0
    for s in range(1, seeds + 1):
        a, b = f(method, s), f("lora", s)
        if a is None or b is None:
            continue
        if a == b:
            t += 1
        elif (a < b) == better_low:
            w += 1
        else:
            l += 1
    return "%d / %d / %d" % (w, t, l)

def active(method):
    vals = set()
    for s in range(1, seeds + 1):
        for task in ("lm", "sft"):
            r = summary("%s-%s-s%d" % (task, method, s))
            if r:
                vals.add(r["active_trainable_params"])
    return ", ".join("{:,}".format(v) for v in sorted(vals)) or "–"

print("| method | lm perplexity (lower is better) | vs LoRA w/t/l | sft accuracy % | vs LoRA w/t/l | active params |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for m in methods:
    print("| %s | %s | %s | %s | %s | %s |" % (m, stat([ppl(m, s) for s in range(1, seeds + 1)]),
          "(baseline)" if m == "lora" else paired(ppl, m, True),
          stat([acc(m, s) for s in range(1, seeds + 1)]),
          "(baseline)" if m == "lora" else paired(acc, m, False), active(m)))
PY
