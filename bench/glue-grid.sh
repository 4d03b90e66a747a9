#!/usr/bin/env bash
# The GLUE grid: a thin wrapper of `dynalora bench glue` with this checkout's ../shared model and data as
# defaults (MODEL, DATA override them). Every other flag goes through, e.g.
#   bench/glue-grid.sh --out runs/grid --tasks cola,sst2,mrpc,stsb,rte --methods head,full,lora,adalora,dynamic \
#     --seeds 3 --epochs 3 --epochs-for sst2=1
# Re-running the same command resumes an interrupted grid; see README.md, "Benchmarks".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$ROOT/bin/dynalora" bench glue --model "${MODEL:-$ROOT/../shared/models/all-MiniLM-L6-v2}" \
  --data "${DATA:-$ROOT/../shared/glue}" "$@"
