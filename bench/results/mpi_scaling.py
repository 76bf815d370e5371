#!/usr/bin/env python3
"""The tables of docs/scaling.md, "Across processes", from the outputs of
bench/results/run-mpi.sh (OUT/<name>.json: the program's last stdout line).

    python3 bench/results/mpi_scaling.py OUT

1. Bytes per step against the nonzeros: an ordinary step (the static run's
   payload / steps) and what an update step adds (RigL's payload beyond its
   ordinary steps / its update steps), per rank.
2. Time per epoch, 1 process x 2 threads against 2 processes x 1 thread
   (medians over the repetitions).
3. A projection of weak-scaling efficiency (each rank 128 examples per step)
   to p ranks: E = T_c / (T_c + T_comm), T_c the measured step time of one
   2-core process, and per step
       T_comm = 2 (p-1)/p * (B_o + B_u / dT) / BW + 2 (p-1) alpha + 3 * 2 ceil(log2 p) alpha
   (a ring all-reduce of the summed floats: bandwidth and p-1 latency steps
   each way; plus the three small integer reductions of a step), with
   B_o, B_u from table 1, dT = 100, and alpha = 10 us at 10 Gbit/s, 2 us at
   100 Gbit/s. Standard library only.
"""
import glob
import json
import math
import os
import statistics
import sys

out = sys.argv[1]


def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.loads(f.read())


def reps(prefix):
    runs = []
    for p in sorted(glob.glob(os.path.join(out, prefix + "-*.json"))):
        with open(p) as f:
            runs.append(json.loads(f.read()))
    return runs


DT = 100
rows_bytes, rows_time, proj = [], [], []
for s in ("0.9", "0.99"):
    st = load("static-%s-2x1" % s)
    stored = st["params_all_nonzero"]
    b_o = st["comm_f32_bytes"] / st["steps"]
    rg = reps("rigl-%s-2x1" % s)
    r0 = rg[0]
    ups = r0["update_steps"]
    b_u = (r0["comm_f32_bytes"] - b_o * r0["steps"]) / ups if ups else 0.0
    rows_bytes.append((s, r0["nnz"], stored, b_o, b_o / (4 * stored), b_u, r0["params_dense"], b_u / DT))
    one = reps("rigl-%s-1x2" % s)
    t1 = statistics.median(r["step_seconds"] for r in one)
    w1 = statistics.median(r["seconds"] for r in one)
    t2 = statistics.median(r["step_seconds"] for r in rg)
    w2 = statistics.median(r["seconds"] for r in rg)
    acc1 = statistics.median(r["test_acc"] for r in one)
    acc2 = statistics.median(r["test_acc"] for r in rg)
    rows_time.append((s, len(one), t1, w1, acc1, len(rg), t2, w2, acc2, t1 / t2))
    tc = t1 / one[0]["steps"]
    for gbit, alpha in ((10, 10e-6), (100, 2e-6)):
        bw = gbit * 1e9 / 8
        effs = []
        for p in (8, 64, 512):
            tcomm = 2 * (p - 1) / p * (b_o + b_u / DT) / bw + 2 * (p - 1) * alpha + 3 * 2 * math.ceil(math.log2(p)) * alpha
            effs.append(tc / (tc + tcomm))
        proj.append((s, gbit, tc * 1e3, effs))

print("| sparsity | nonzeros (weights) | values stored (with biases) | bytes per ordinary step | / (4 x stored) | "
      "extra bytes of an update step | dense weight positions | update bytes per step over dT = %d |" % DT)
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s, nnz, stored, b_o, ratio, b_u, dense, amort in rows_bytes:
    print("| %s | %s | %s | %s | %.4f | %s | %s | %s |" % (s, f"{nnz:,}", f"{stored:,}", f"{b_o:,.0f}", ratio,
                                                          f"{b_u:,.0f}", f"{dense:,}", f"{amort:,.0f}"))
print()
print("| sparsity | 1 proc x 2 threads: runs, step s/epoch, wall s/epoch, test acc | 2 procs x 1 thread: runs, "
      "step s/epoch, wall s/epoch, test acc | speed-up of 2 x 1 (steps) |")
print("|---|---|---|---:|")
for s, n1, t1, w1, a1, n2, t2, w2, a2, sp in rows_time:
    print("| %s | %d, %.1f, %.1f, %.4f | %d, %.1f, %.1f, %.4f | %.2fx |" % (s, n1, t1, w1, a1, n2, t2, w2, a2, sp))
print()
print("| sparsity | network | T_c per step (ms) | E at 8 ranks | 64 | 512 |")
print("|---|---|---:|---:|---:|---:|")
for s, gbit, tcms, effs in proj:
    print("| %s | %d Gbit/s | %.1f | %s |" % (s, gbit, tcms, " | ".join("%.1f%%" % (100 * e) for e in effs)))
