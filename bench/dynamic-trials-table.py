#!/usr/bin/env python3
"""Tabulates the Dynamic LoRA trials at lr 2e-3 (bench/results/dynamic-trials-lr2e-3) beside the 2e-3 grid's
LoRA and Dynamic LoRA runs, the ablation's reallocation-only runs, and the revised method's grid and ablation: CoLA MCC and MRPC task score (mean of
accuracy and F1), x100, per seed and mean. Run from the repository root."""
import json, os, statistics as st

R = "bench/results"

def score(d, task):
    p = os.path.join(d, "metrics.jsonl")
    if not os.path.exists(p):
        return None
    for line in open(p):
        r = json.loads(line)
        if r.get("type") == "summary":
            b = r["best"]
            return 100 * (b["mcc"] if task == "cola" else b["score"])
    return None

rows = [("LoRA (grid)", R + "/glue-lr2e-3/{t}-lora-s{s}"),
        ("Dynamic, before: gate lr ratio 1, no step limit (grid)", R + "/glue-lr2e-3/{t}-dynamic-s{s}"),
        ("Dynamic --no-gate, no step limit (ablation)", R + "/ablation-lr2e-3/{t}-no-gate-s{s}")]
T = R + "/dynamic-trials-lr2e-3"
for name in ["g0.1", "g0.01", "g0.003", "g0.01-step2", "w0.01-step2"]:
    rows.append((name, T + "/{t}-" + name + "-s{s}"))
# The revised method at commit 70643be and later: the grid's runs and its ablation (bench/ablation-lr2e-3.sh).
rows += [("LoRA (revised grid)", R + "/glue-v2-lr2e-3/{t}-lora-s{s}"),
         ("revised, all on (revised grid)", R + "/glue-v2-lr2e-3/{t}-dynamic-s{s}"),
         ("revised --no-gate", R + "/ablation-v2-lr2e-3/{t}-no-gate-s{s}"),
         ("revised --no-reallocation", R + "/ablation-v2-lr2e-3/{t}-no-reallocation-s{s}")]
print("| variant | CoLA MCC | per seed | MRPC score | per seed |")
print("| --- | ---: | --- | ---: | --- |")
for name, pat in rows:
    cells = []
    for t in ("cola", "mrpc"):
        v = [score(pat.format(t=t, s=s), t) for s in (1, 2, 3)]
        v = [x for x in v if x is not None]
        cells += ["%.1f" % st.mean(v) if v else "-", ", ".join("%.1f" % x for x in v)]
    print("| " + name + " | " + " | ".join(cells) + " |")
