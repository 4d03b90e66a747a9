#!/usr/bin/env bash
# Dynamic LoRA ablation at lr 2e-3 (where LoRA scored higher): the grid's settings, mechanisms switched off.
# Snapshot of its output: bench/results/ablation-lr2e-3/ (results.md: the table in BENCHMARKS.md).
# It ran at commit ad40e0e, before --gate-lr-ratio and --max-rank-step existed; at later commits
# EXTRA='--gate-lr-ratio 1 --max-rank-step 0' gives the method as it was then, and no EXTRA the revised defaults.
# VARIANTS picks among no-gate, no-reallocation and all-off (default: all three).
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out/ablation}
mkdir -p $OUT/logs
date -u
for s in 1 2 3; do for t in cola mrpc; do for v in ${VARIANTS:-no-gate no-reallocation all-off}; do
  flags="--$v"; [ $v = all-off ] && flags="--no-gate --no-importance"
  bin/dynalora train --model ../shared/models/all-MiniLM-L6-v2 --task $t --data ../shared/glue --method dynamic --out $OUT/$t-$v-s$s --overwrite --seed $s --lr 0.002 --epochs 1 --batch 32 --max-len 128 --rank 8 --threads 2 $flags ${EXTRA:-} > $OUT/logs/$t-$v-s$s.log 2>&1
  echo "$t $v $s rc=$? $(date -u +%T)"
done; done; done
