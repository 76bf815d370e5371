#!/usr/bin/env python3
"""The table and plot data of docs/scaling.md from the outputs of
bench/results/run-scaling.sh (OUT/mlp-<H>-<method>.json: the program's last
stdout line).

    python3 bench/results/scaling.py OUT DOCS_DIR

prints the Markdown table (one row per hidden width H and method: nonzeros,
what the dense twin's weights alone would need, time per epoch, peak RSS,
test accuracy after the epoch, next to the SET paper's minutes per epoch)
and writes DOCS_DIR/results-data/scaling-<method>.dat and scaling-anchor.dat
(H, minutes per epoch) for bench/results/scaling.gp. Standard library only.
"""
import json
import os
import re
import sys

# The SET authors' MLPs (three hidden layers of H neurons, epsilon = 20) on a
# 16 GB laptop, Python with a Cython kernel, minutes per epoch on their small
# data set (the README of their repository, SET-MLP-Sparse-Python-Data-Structures).
ANCHOR = {3000: 0.3, 30000: 3, 300000: 49, 600000: 112}
METHODS = [("static", "static"), ("set", "SET"), ("rigl-s4", "RigL, sampled growth (m = 4)")]


def load(out):
    runs = {}
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"mlp-(\d+)-(.+)\.json", name)
        if not m:
            continue
        with open(os.path.join(out, name)) as f:
            text = f.read().strip()
        try:
            runs[(int(m.group(1)), m.group(2))] = json.loads(text)
        except ValueError:
            continue  # a run that did not finish
    return runs


def human_bytes(b):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if b < 1000 or unit == "PB":
            return ("%.0f %s" if unit == "bytes" else "%.1f %s") % (b, unit)
        b /= 1000.0


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, docs = sys.argv[1], sys.argv[2]
    runs = load(out)
    widths = sorted({h for h, _ in runs})
    print("| hidden width H | method | nonzeros | dense twin's weights | time per epoch | peak RSS | test accuracy "
          "(1 epoch) | SET paper, min/epoch |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for h in widths:
        for key, label in METHODS:
            j = runs.get((h, key))
            if not j:
                continue
            dense_bytes = 4.0 * j["params_dense"]
            print("| %s | %s | %s | %s | %.1f min | %s | %.4f | %s |" % (
                format(h, ","), label, format(j["nnz"], ","), human_bytes(dense_bytes), j["seconds"] / 60.0,
                human_bytes(1024.0 * j["max_rss_kb"]), j["test_acc"],
                ("%g" % ANCHOR[h]) if h in ANCHOR else "-"))
    data = os.path.join(docs, "results-data")
    os.makedirs(data, exist_ok=True)
    for key, _ in METHODS:
        rows = [(h, runs[(h, key)]["seconds"] / 60.0) for h in widths if (h, key) in runs]
        with open(os.path.join(data, "scaling-%s.dat" % key), "w") as f:
            f.write("# H minutes_per_epoch\n")
            for h, minutes in rows:
                f.write("%d %.4f\n" % (h, minutes))
    with open(os.path.join(data, "scaling-anchor.dat"), "w") as f:
        f.write("# H minutes_per_epoch (SET paper)\n")
        for h in sorted(ANCHOR):
            f.write("%d %g\n" % (h, ANCHOR[h]))


if __name__ == "__main__":
    main()
