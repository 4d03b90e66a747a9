#!/usr/bin/env bash
# Instruction tuning against the PyTorch reference (BENCHMARKS.md, "Decoder LLMs: SST-2 as prompt/completion"):
# LoRA r 8 on q_proj,v_proj of stories15M, 1 epoch on the first 20,000 pairs of sst2-sft/train.jsonl, batch 16,
# lr 1e-3 (the reference's defaults), 2 threads; then greedy completions (4 new tokens) of the 872 held-out
# reviews in valid.jsonl, scored as correct when the completion (leading spaces stripped) begins with the label:
# stories15M's EOS embedding is barely trained, so after the label both models tend to run on ("positiveidas"). Runs dynalora train
# --task sft and generate --adapter, then torch_llama_lora.py --mode train --sft --predict-jsonl, and prints both
# accuracies and validation losses. Usage: bench/llama-sft-vs-torch.sh [OUT]   (MODEL, SHARED override)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="${MODEL:-$SHARED/models/stories15M}"
REF="$SHARED/reference/torch_llama_lora.py"
OUT="${1:-/tmp/dynalora-llama-sft}"
mkdir -p "$OUT/data"
head -n 20000 "$SHARED/data/sst2-sft/train.jsonl" > "$OUT/data/train.jsonl"
cp "$SHARED/data/sst2-sft/valid.jsonl" "$OUT/data/valid.jsonl"
python3 -c "import json,sys; [print(json.dumps({'prompt': json.loads(l)['prompt']})) for l in open(sys.argv[1]) if l.strip()]" \
  "$OUT/data/valid.jsonl" > "$OUT/prompts.jsonl"
"$ROOT/bin/dynalora" train --model "$MODEL" --task sft --data "$OUT/data" --method lora --epochs 1 --batch 16 \
  --max-len 256 --rank 8 --alpha 16 --targets q_proj,v_proj --lr 1e-3 --threads 2 --out "$OUT/dynalora" --overwrite \
  > "$OUT/dynalora.json" 2> "$OUT/dynalora.log"
"$ROOT/bin/dynalora" generate --model "$MODEL" --adapter "$OUT/dynalora" --input "$OUT/prompts.jsonl" \
  --output "$OUT/dynalora-predictions.jsonl" --overwrite --max-new-tokens 4 --threads 2 2>> "$OUT/dynalora.log"
/usr/bin/python3 "$REF" --model "$MODEL" --mode train --sft --train "$OUT/data/train.jsonl" --valid "$OUT/data/valid.jsonl" \
  --seq 256 --batch 16 --epochs 1 --rank 8 --alpha 16 --targets q_proj,v_proj --lr 1e-3 --threads 2 \
  --predict-jsonl "$OUT/prompts.jsonl" --predict-out "$OUT/torch-predictions.jsonl" --new-tokens 4 \
  --out-adapter "$OUT/torch" 2> "$OUT/torch.log" | tail -1 > "$OUT/torch.json"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
labels = [json.loads(l)["completion"].strip() for l in open(out + "/data/valid.jsonl") if l.strip()]
def accuracy(path):
    preds = [json.loads(l)["completion"].strip() for l in open(path) if l.strip()]
    return sum(1 for p, y in zip(preds, labels) if p.startswith(y)) / len(labels), len(preds)
ours = json.load(open(out + "/dynalora.json")); ref = json.load(open(out + "/torch.json"))
oa, on = accuracy(out + "/dynalora-predictions.jsonl"); ra, rn = accuracy(out + "/torch-predictions.jsonl")
print("| | validation loss (completion tokens) | accuracy on %d held-out reviews | train tokens/s |" % len(labels))
print("| --- | ---: | ---: | ---: |")
print("| dynalora | %.4f | %.2f%% (%d predictions) | %d |" % (ours["final"]["loss"], 100 * oa, on, ours["tokens_per_s"]))
print("| PyTorch reference | %.4f | %.2f%% (%d predictions) | %d |" % (ref["valid_loss"], 100 * ra, rn, ref["train_tokens_per_s"]))
print("accuracy difference: %.2f points (target within 1.5)" % (100 * (oa - ra)))
PY
