#!/usr/bin/env bash
# Copies what a folder of runs (bench/protocol-ablation.sh, bench/decoder-methods.sh) needs to be tabulated into
# another folder that is kept in the repository (bench/results/): each run's run_config.json, metrics.jsonl,
# predictions.jsonl when there is one, and of allocation.jsonl only its first and last records (where capacity
# started and ended, and the gates' statistics; the whole file is megabytes per run); plus flags.txt and the logs.
# Symbolic links (runs borrowed from another folder) are not copied.
# Usage: bench/snapshot-runs.sh SRC_DIR DEST_DIR
set -euo pipefail
src="$1"; dst="$2"
mkdir -p "$dst"
[ -f "$src/flags.txt" ] && cp "$src/flags.txt" "$dst/"
for d in "$src"/*/; do
  d="${d%/}"; name="$(basename "$d")"
  [ -L "$d" ] && continue
  [ -f "$d/metrics.jsonl" ] || continue
  mkdir -p "$dst/$name"
  for f in run_config.json metrics.jsonl predictions.jsonl; do
    [ -f "$d/$f" ] && cp "$d/$f" "$dst/$name/"
  done
  if [ -f "$d/allocation.jsonl" ]; then
    { head -n 1 "$d/allocation.jsonl"; tail -n 1 "$d/allocation.jsonl"; } > "$dst/$name/allocation-first-last.jsonl"
  fi
  [ -f "$src/$name.log" ] && [ ! -L "$src/$name.log" ] && tail -n 20 "$src/$name.log" > "$dst/$name.log"
done
