#!/usr/bin/env bash
# Side-by-side speed against the PyTorch eager reference: a thin wrapper of `dynalora bench speed` with this
# checkout's ../shared model and reference script as defaults (MODEL, REFERENCE override them). Every other
# flag goes through, e.g.
#   bench/speed-vs-torch.sh --batch 32 --seq 128 --steps 5 --rounds 3 --threads 2
# Requires: apt-get install -y --no-install-recommends python3-torch libopenblas0-pthread python3-numpy
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$ROOT/bin/dynalora" bench speed --model "${MODEL:-$ROOT/../shared/models/all-MiniLM-L6-v2}" \
  --reference "${REFERENCE:-$ROOT/../shared/reference/torch_bert_lora.py}" "$@"
