#!/usr/bin/env python3
"""Paired comparison of two methods in a `bench glue` results.json: per (task, seed), the task's GLUE score
(the mean of its metrics, x100) of each, how many pairs each wins, and the mean difference per task.
Usage: bench/paired.py RESULTS.json METHOD_A METHOD_B [RESULTS_B.json]  (METHOD_B read from RESULTS_B if given)."""
import json, sys, statistics as st

def scores(path, method):
    out = {}
    for r in json.load(open(path))["runs"]:
        if r["method"] == method and r.get("status") == "complete":
            b = r["best"]
            out[(r["task"], r["seed"])] = 100 * b["score"]
    return out

a_path, ma, mb = sys.argv[1], sys.argv[2], sys.argv[3]
b_path = sys.argv[4] if len(sys.argv) > 4 else a_path
A, B = scores(a_path, ma), scores(b_path, mb)
keys = sorted(set(A) & set(B))
wins = sum(A[k] > B[k] for k in keys)
losses = sum(A[k] < B[k] for k in keys)
print(f"{ma} vs {mb}: {len(keys)} pairs; {ma} higher in {wins}, lower in {losses}, equal in {len(keys) - wins - losses}")
for task in dict.fromkeys(k[0] for k in keys):
    d = [A[k] - B[k] for k in keys if k[0] == task]
    print(f"  {task}: mean difference {st.mean(d):+.2f} ({', '.join('%+.1f' % x for x in d)})")
tasks = sorted({k[0] for k in keys})
seeds = sorted({k[1] for k in keys})
if all((t, s) in A and (t, s) in B for t in tasks for s in seeds):
    avg = lambda S, s: st.mean(S[(t, s)] for t in tasks)
    print("  average over tasks per seed: %s %s; %s %s" % (ma, ", ".join("%.1f" % avg(A, s) for s in seeds),
          mb, ", ".join("%.1f" % avg(B, s) for s in seeds)))
