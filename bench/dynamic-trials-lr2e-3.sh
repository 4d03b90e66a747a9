#!/usr/bin/env bash
# Dynamic LoRA at lr 2e-3 on CoLA and MRPC, 3 seeds: the trials behind the revised defaults (BENCHMARKS.md,
# "Dynamic LoRA, revised"). Each variant is `dynalora train --method dynamic` with the grid's settings and the
# flags below. Snapshot of the output: bench/results/dynamic-trials-lr2e-3/; bench/dynamic-trials-table.py
# tabulates it. Note: the g* variants ran before commit 421cff0, when --gate-lr-ratio scaled the gate bias
# too; at this commit it scales the gate weights only (the w* variant).
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out/dynamic-trials}
mkdir -p $OUT/logs
run() {  # NAME FLAGS...
  local name=$1; shift
  for s in 1 2 3; do for t in cola mrpc; do
    bin/dynalora train --model ../shared/models/all-MiniLM-L6-v2 --task $t --data ../shared/glue --method dynamic \
      --out $OUT/$t-$name-s$s --overwrite --seed $s --lr 0.002 --epochs 1 --batch 32 --max-len 128 --rank 8 \
      --threads 2 "$@" > $OUT/logs/$t-$name-s$s.log 2>&1
    echo "$t $name $s rc=$? $(date -u +%T)"
  done; done
}
run g0.1 --gate-lr-ratio 0.1 --max-rank-step 0
run g0.01 --gate-lr-ratio 0.01 --max-rank-step 0
run g0.003 --gate-lr-ratio 0.003 --max-rank-step 0
run g0.01-step2 --gate-lr-ratio 0.01 --max-rank-step 2
run w0.01-step2 --gate-lr-ratio 0.01 --max-rank-step 2
