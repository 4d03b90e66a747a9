#!/usr/bin/env bash
# Side-by-side speed comparison with the PyTorch eager reference, alternating runs in one session:
#   bench/speed-vs-torch.sh [MODEL_DIR] [ROUNDS]
# Prints one JSON line per run (ours: engine "dynalora"; theirs: engine "pytorch-eager") for the forward
# pass (infer) and for LoRA training steps (r=8 on query,value), batch 32, seq 128, 2 threads.
# Requires: apt-get install -y --no-install-recommends python3-torch libopenblas0-pthread python3-numpy
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$ROOT/../shared/models/all-MiniLM-L6-v2}"
ROUNDS="${2:-3}"
REF="$ROOT/../shared/reference/torch_bert_lora.py"
STEPS="${STEPS:-10}"
THREADS="${THREADS:-2}"
for i in $(seq "$ROUNDS"); do
  "$ROOT/bin/dynalora" bench forward --model "$MODEL" --batch 32 --seq 128 --steps "$STEPS" --threads "$THREADS" --json
  /usr/bin/python3 "$REF" --model "$MODEL" --batch 32 --seq 128 --steps "$STEPS" --threads "$THREADS" --mode infer
  "$ROOT/bin/dynalora" bench step --model "$MODEL" --method lora --rank 8 --targets query,value --batch 32 --seq 128 --steps "$STEPS" --threads "$THREADS" --json
  /usr/bin/python3 "$REF" --model "$MODEL" --batch 32 --seq 128 --steps "$STEPS" --threads "$THREADS" --targets query,value --rank 8 --mode train
  "$ROOT/bin/dynalora" bench step --model "$MODEL" --method dynamic --rank 8 --targets query,value --batch 32 --seq 128 --steps "$STEPS" --threads "$THREADS" --json
done
