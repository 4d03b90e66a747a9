#!/usr/bin/env bash
# Generation speed side by side (BENCHMARKS.md, "Generation"): in each of ROUNDS rounds (default 3), one after
# the other, each in its own process,
#   1. dynalora bench generate, stories15M, batch 1, greedy, 16-token random prompt, 200 new tokens, 1 thread;
#   2. the PyTorch eager reference, torch_llama_lora.py --mode generate, the same settings (KV cache, batch 1);
#   3. llama2.c's run (gcc -Ofast -march=native, one thread), greedy, a 16-token prompt, 200 new tokens;
#   4. dynalora bench generate at batch 8;
# then the medians. Our tokens_per_s counts decode steps only; the reference's counts prefill + decode (we print
# our tokens_per_s_incl_prefill beside it, the like-for-like figure); llama2.c runs the prompt token by token and
# counts every step after the first (prompt steps included), i.e. its decode speed.
# MODEL, SHARED, L2C (llama2.c build folder, built if missing) and JAVA_HOME override the defaults.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="${MODEL:-$SHARED/models/stories15M}"
L2C="${L2C:-/tmp/dynalora-llama2c}"
ROUNDS="${1:-3}"
[ -x "$L2C/run" ] || bash "$SHARED/reference/llama2c/build.sh" "$MODEL" "$L2C" >&2
# 15 tokens after BOS: 16 prompt positions, as the others' --prompt-len 16; -n counts prompt and new tokens.
PROMPT="Once upon a time, there was a little girl named Lily. She"
LOG="$(mktemp)"
for r in $(seq "$ROUNDS"); do
  echo "round $r" >&2
  "$ROOT/bin/dynalora" bench generate --model "$MODEL" --batch 1 --prompt-len 16 --new-tokens 200 --threads 1 --json \
    | sed 's/^/ours1 /' | tee -a "$LOG"
  /usr/bin/python3 "$SHARED/reference/torch_llama_lora.py" --model "$MODEL" --mode generate --prompt-len 16 \
    --new-tokens 200 --threads 1 | tail -1 | sed 's/^/torch /' | tee -a "$LOG"
  "$L2C/run" "$L2C/model.bin" -z "$L2C/tokenizer.bin" -t 0 -n 216 -i "$PROMPT" 2>&1 >/dev/null \
    | grep achieved | sed 's/^/llama2c /' | tee -a "$LOG"
  "$ROOT/bin/dynalora" bench generate --model "$MODEL" --batch 8 --prompt-len 16 --new-tokens 200 --threads 1 --json \
    | sed 's/^/ours8 /' | tee -a "$LOG"
done
/usr/bin/python3 - "$LOG" <<'PY'
import json, statistics, sys
rows = {"ours1": [], "torch": [], "llama2c": [], "ours8": []}
for line in open(sys.argv[1]):
    tag, rest = line.split(" ", 1)
    rows[tag].append(float(rest.split(":")[1]) if tag == "llama2c" else json.loads(rest))
med = lambda xs: statistics.median(xs)
o1 = med([r["tokens_per_s"] for r in rows["ours1"]]); o1p = med([r["tokens_per_s_incl_prefill"] for r in rows["ours1"]])
t = med([r["tokens_per_s"] for r in rows["torch"]]); l = med(rows["llama2c"])
o8 = med([r["tokens_per_s"] for r in rows["ours8"]]); o8p = med([r["tokens_per_s_incl_prefill"] for r in rows["ours8"]])
print(json.dumps({"rounds": len(rows["torch"]),
    "ours_batch1_tokens_per_s": o1, "ours_batch1_tokens_per_s_incl_prefill": o1p,
    "torch_tokens_per_s": t, "llama2c_tokens_per_s": l,
    "ours_batch8_tokens_per_s": o8, "ours_batch8_tokens_per_s_incl_prefill": o8p,
    "ratio_vs_torch_incl_prefill": round(o1p / t, 2), "ratio_vs_llama2c_decode": round(o1 / l, 2),
    "ours_batch1_peak_rss_mb": med([r["peak_rss_mb"] for r in rows["ours1"]]),
    "torch_peak_rss_mb": med([r["peak_rss_mb"] for r in rows["torch"]])}))
PY
rm -f "$LOG"
