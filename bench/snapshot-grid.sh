#!/usr/bin/env bash
# Copies what a bench glue grid folder needs to be tabulated (--table-only) or resumed into another folder:
# grid_config.json, each run's run_config.json and metrics.jsonl, and the runs' logs; not the adapters and
# weights. BENCHMARKS.md's GLUE table is produced from such a copy kept in the repository (bench/results/),
# because a machine's bench-out/ does not outlive its session.
# Usage: bench/snapshot-grid.sh GRID_DIR DEST_DIR
set -euo pipefail
src="$1"; dst="$2"
mkdir -p "$dst/logs"
cp "$src/grid_config.json" "$dst/"
for d in "$src"/*/; do
  name="$(basename "$d")"
  [ "$name" = logs ] && continue
  [ -f "$d/metrics.jsonl" ] || continue
  mkdir -p "$dst/$name"
  cp "$d/metrics.jsonl" "$dst/$name/"
  [ -f "$d/run_config.json" ] && cp "$d/run_config.json" "$dst/$name/"
done
cp "$src"/logs/*.log "$dst/logs/" 2>/dev/null || true
