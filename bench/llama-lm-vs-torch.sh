#!/usr/bin/env bash
# Causal-LM fine-tuning against the PyTorch reference (BENCHMARKS.md, "Decoder LLMs: fine-tuning"), the
# protocol of issue #18: LoRA r 8 on q_proj,v_proj of stories15M, 1 epoch of tinyshakespeare train.txt in
# blocks of 256 tokens, batch 16, lr 5e-4, 2 threads. Runs
#   1. dynalora train --task lm (writes OUT/dynalora: run folder with the PEFT adapter),
#   2. torch_llama_lora.py --mode train with the same settings (writes OUT/torch: its PEFT adapter),
#   3. torch_llama_lora.py --mode eval --adapter OUT/dynalora: the reference scores OUR adapter file,
# and prints the validation losses and perplexities side by side. The check: (3) equals dynalora's own loss
# within 1e-3 relative, and dynalora's perplexity is within 2% of the reference's own run.
# Usage: bench/llama-lm-vs-torch.sh [OUT]   (MODEL, SHARED override the defaults)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MODEL="${MODEL:-$SHARED/models/stories15M}"
DATA="$SHARED/data/tinyshakespeare"
REF="$SHARED/reference/torch_llama_lora.py"
OUT="${1:-/tmp/dynalora-llama-lm}"
mkdir -p "$OUT"
"$ROOT/bin/dynalora" train --model "$MODEL" --task lm --data "$DATA" --method lora --epochs 1 --batch 16 \
  --max-len 256 --rank 8 --alpha 16 --targets q_proj,v_proj --lr 5e-4 --threads 2 --out "$OUT/dynalora" --overwrite \
  > "$OUT/dynalora.json" 2> "$OUT/dynalora.log"
/usr/bin/python3 "$REF" --model "$MODEL" --mode train --train "$DATA/train.txt" --valid "$DATA/valid.txt" --seq 256 \
  --batch 16 --epochs 1 --rank 8 --alpha 16 --targets q_proj,v_proj --lr 5e-4 --threads 2 --out-adapter "$OUT/torch" \
  2> "$OUT/torch.log" | tail -1 > "$OUT/torch.json"
/usr/bin/python3 "$REF" --model "$MODEL" --mode eval --valid "$DATA/valid.txt" --seq 256 --batch 16 --threads 2 \
  --adapter "$OUT/dynalora" 2>/dev/null | tail -1 > "$OUT/torch-eval-of-dynalora.json"
/usr/bin/python3 - "$OUT" <<'PY'
import json, math, sys
out = sys.argv[1]
ours = json.load(open(out + "/dynalora.json"))
ref = json.load(open(out + "/torch.json"))
cross = json.load(open(out + "/torch-eval-of-dynalora.json"))
ol, rl, cl = ours["final"]["loss"], ref["valid_loss"], cross["valid_loss"]
print("| | validation loss | perplexity | train tokens/s | peak RSS MB |")
print("| --- | ---: | ---: | ---: | ---: |")
print("| base stories15M (reference) | %.6f | %.2f | | |" % (ref["valid_loss_before"], math.exp(ref["valid_loss_before"])))
print("| dynalora LoRA, scored by dynalora | %.6f | %.2f | %d | |" % (ol, math.exp(ol), ours["tokens_per_s"]))
print("| dynalora LoRA, scored by the reference from adapter_model.safetensors | %.6f | %.2f | | |" % (cl, math.exp(cl)))
print("| reference LoRA (PyTorch eager) | %.6f | %.2f | %d | %d |" % (rl, math.exp(rl), ref["train_tokens_per_s"], ref["peak_rss_mb"]))
print("cross-check |ref(our adapter) - ours| / ours = %.2e (target <= 1e-3)" % (abs(cl - ol) / ol))
print("perplexity ours / reference = %.4f (target within 2%%)" % (math.exp(ol) / math.exp(rl)))
PY
