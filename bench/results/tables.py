#!/usr/bin/env python3
"""Markdown tables and gnuplot data for docs/results.md from the outputs of
bench/results/run-cifar10.sh (OUT/<run>.json: the programs' last stdout line;
OUT/<run>.csv: one row per epoch).

    python3 bench/results/tables.py OUT DOCS_DIR

prints the tables and writes DOCS_DIR/results-data/*.dat for
bench/results/plots.gp. Standard library only.
"""
import csv
import json
import os
import sys


def load(out):
    runs = {}
    for name in sorted(os.listdir(out)):
        if not name.endswith(".json"):
            continue
        run = name[:-5]
        with open(os.path.join(out, name)) as f:
            text = f.read().strip()
        try:
            j = json.loads(text)
        except ValueError:
            continue  # a run that did not finish
        rows = []
        path = os.path.join(out, run + ".csv")
        if os.path.exists(path):
            with open(path) as f:
                rows = list(csv.DictReader(f))
        runs[run] = (j, rows)
    return runs


def per_epoch_seconds(rows):
    """Median wall seconds per epoch from the cumulative 'seconds' column."""
    t = [float(r["seconds"]) for r in rows]
    d = sorted(b - a for a, b in zip([0.0] + t, t) if b > a)
    return d[len(d) // 2] if d else float("nan")


def table(runs, prefix):
    sel = {k: v for k, v in runs.items() if k.startswith(prefix)}
    if not sel:
        return ""
    dense = next((v[0] for k, v in sel.items() if k.endswith("-dense")), None)
    lines = ["| run | method | sparsity | test acc | s/epoch (median) | train FLOPs/example | (x dense) "
             "| infer FLOPs | (x dense) | nnz | mask updates |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, (j, rows) in sorted(sel.items(), key=lambda kv: (kv[1][0]["sparsity"], kv[0])):
        fd = dense["train_flops_per_example"] if dense else float("nan")
        idd = j["infer_flops_dense"]
        lines.append("| %s | %s | %.4f | %.4f | %.1f | %.4g | %.3f | %.4g | %.3f | %d | %.2f%% |" % (
            k, j["method"], j["sparsity"], j["test_acc"], per_epoch_seconds(rows), j["train_flops_per_example"],
            j["train_flops_per_example"] / fd, j["infer_flops"], j["infer_flops"] / idd, j["nnz"],
            100 * j["mask_update_share"]))
    return "\n".join(lines)


def write_dat(runs, docs):
    d = os.path.join(docs, "results-data")
    os.makedirs(d, exist_ok=True)
    by_method = {}
    for k, (j, _) in runs.items():
        if k.startswith("mlp-"):
            by_method.setdefault(j["method"], []).append((j["sparsity"], j["test_acc"]))
    for m, pts in by_method.items():
        with open(os.path.join(d, "mlp-acc-vs-sparsity-%s.dat" % m), "w") as f:
            for s, a in sorted(pts):
                f.write("%.6f %.6f\n" % (s, a))
    for k, (_, rows) in runs.items():
        if rows:
            with open(os.path.join(d, "%s-epochs.dat" % k), "w") as f:
                for r in rows:
                    f.write("%s %s\n" % (r["epoch"], r["test_acc"]))


def main():
    out, docs = sys.argv[1], sys.argv[2]
    runs = load(out)
    for prefix, title in (("mlp-", "MLP 3072-4000-1000-4000-10"), ("resnet20-", "ResNet-20")):
        t = table(runs, prefix)
        if t:
            print("### %s\n\n%s\n" % (title, t))
    write_dat(runs, docs)


if __name__ == "__main__":
    main()
