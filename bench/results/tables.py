#!/usr/bin/env python3
"""Markdown tables and gnuplot data for docs/results.md from the outputs of
bench/results/run-cifar10.sh (OUT/<run>.json: the programs' last stdout line;
OUT/<run>.csv: one row per epoch).

    python3 bench/results/tables.py OUT DOCS_DIR
    python3 bench/results/tables.py --timing TIMING_OUT

The first prints the accuracy tables and writes DOCS_DIR/results-data/*.dat
for bench/results/plots.gp; the second prints the time-per-epoch and
peak-memory tables from the outputs of bench/results/time-cifar10.sh
(TIMING_OUT/time-<model>-<method>-<sparsity>.json). Standard library only.
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


def table(runs, prefix):
    sel = {k: v for k, v in runs.items() if k.startswith(prefix)}
    if not sel:
        return ""
    dense = next((v[0] for k, v in sel.items() if k.endswith("-dense")), None)
    lines = ["| run | method | sparsity | test acc | best epoch's test acc | train FLOPs/example | (x dense) "
             "| infer FLOPs | (x dense) | nnz |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, (j, rows) in sorted(sel.items(), key=lambda kv: (kv[1][0]["sparsity"], kv[0])):
        fd = dense["train_flops_per_example"] if dense else float("nan")
        idd = j["infer_flops_dense"]
        best = max((float(r["test_acc"]) for r in rows), default=float("nan"))
        lines.append("| %s | %s | %.4f | %.4f | %.4f | %.4g | %.3f | %.4g | %.3f | %d |" % (
            k, j["method"], j["sparsity"], j["test_acc"], best, j["train_flops_per_example"],
            j["train_flops_per_example"] / fd, j["infer_flops"], j["infer_flops"] / idd, j["nnz"]))
    return "\n".join(lines)


def structured(j):
    return j.get("structure", "unstructured") != "unstructured"


def structure_name(j):
    st = j.get("structure", "unstructured")
    if st == "nm":
        st = "%d:%d" % (j["structure_n"], j["structure_m"])
    if j.get("ablation"):
        st += ", ablation %g" % j["ablation"]
    return st


def structure_table(runs, prefix, sparsities):
    """Structured runs of a model (prefix) and, as the reference, its
    unstructured RigL runs at the same sparsities."""
    sel = {k: v for k, v in runs.items() if k.startswith(prefix) and
           (structured(v[0]) or (v[0]["method"] == "rigl" and "rigl2x" not in k and
                                 any(k.endswith("-%g" % x) for x in sparsities)))}
    if not any(structured(v[0]) for v in sel.values()):
        return ""
    # The reference runs of the same build (*-rigl-ref-*), when there are any.
    if any("-rigl-ref-" in k for k in sel):
        sel = {k: v for k, v in sel.items() if structured(v[0]) or "-rigl-ref-" in k}
    lines = ["| run | method | structure | sparsity | test acc | best epoch's test acc | nnz "
             "| empty rows (of all) | s/epoch |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, (j, rows) in sorted(sel.items(), key=lambda kv: (round(kv[1][0]["sparsity"], 2), structured(kv[1][0]),
                                                             kv[0])):
        best = max((float(r["test_acc"]) for r in rows), default=float("nan"))
        empty = "%d (%d)" % (j["empty_rows"], j["rows"]) if "empty_rows" in j else "-"
        lines.append("| %s | %s | %s | %.4f | %.4f | %.4f | %d | %s | %.1f |" % (
            k, j["method"], structure_name(j), j["sparsity"], j["test_acc"], best, j["nnz"], empty,
            j["seconds"] / j["epochs"]))
    return "\n".join(lines)


def write_dat(runs, docs):
    d = os.path.join(docs, "results-data")
    os.makedirs(d, exist_ok=True)
    by_method = {}
    for k, (j, _) in runs.items():
        if not k.startswith("mlp-"):
            continue
        if j["method"] == "dense":
            with open(os.path.join(d, "mlp-dense-acc.dat"), "w") as f:
                f.write("%.6f\n" % j["test_acc"])
        else:
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


def timing_table(runs, model):
    sel = {k: j for k, (j, _) in runs.items() if k.startswith("time-%s-" % model)}
    dense = sel.get("time-%s-dense" % model)
    if not sel or not dense:
        return ""
    d_epoch = dense["seconds"] / dense["epochs"]
    lines = ["| run | sparsity | s/epoch | of which steps | speedup vs dense | nnz | update steps "
             "| their extra cost | share of the run |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, j in sorted(sel.items(), key=lambda kv: (kv[1]["sparsity"], kv[1]["method"])):
        e = j["seconds"] / j["epochs"]
        upd = j.get("update_steps", 0)
        extra = "%.2f s" % j["update_extra_seconds"] if upd else "-"
        share = "%.2f%%" % (100 * j["update_extra_share"]) if upd else "-"
        lines.append("| %s | %.4f | %.2f | %.2f | %.2fx | %d | %d | %s | %s |" % (
            k[len("time-"):], j["sparsity"], e, j["step_seconds"] / j["epochs"], d_epoch / e, j["nnz"], upd,
            extra, share))
    return "\n".join(lines)


def memory_table(runs, model):
    sel = {k: j for k, (j, _) in runs.items()
           if k.startswith("time-%s-" % model) and (j["method"] in ("dense", "static"))}
    if not sel:
        return ""
    lines = ["| run | sparsity | nnz | peak RSS (MB) | before the model (MB) | model + training state (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for k, j in sorted(sel.items(), key=lambda kv: kv[1]["sparsity"]):
        before = j.get("rss_before_model_kb")
        lines.append("| %s | %.4f | %d | %.0f | %s | %s |" % (
            k[len("time-"):], j["sparsity"], j["nnz"], j["max_rss_kb"] / 1024,
            "%.0f" % (before / 1024) if before else "-",
            "%.0f" % ((j["max_rss_kb"] - before) / 1024) if before else "-"))
    return "\n".join(lines)


def main():
    if sys.argv[1] == "--timing":
        runs = load(sys.argv[2])
        for model, title in (("mlp", "MLP 3072-4000-1000-4000-10"), ("resnet20", "ResNet-20"),
                             ("conv6", "Conv-6"), ("wrn22-2", "WRN-22-2")):
            t = timing_table(runs, model)
            if t:
                print("### Time per epoch, %s\n\n%s\n" % (title, t))
        t = memory_table(runs, "mlp")
        if t:
            print("### Peak memory, MLP\n\n%s\n" % t)
        return
    out, docs = sys.argv[1], sys.argv[2]
    every = load(out)
    # Structured runs (issue 16) get tables of their own, with the
    # unstructured RigL runs they compare with.
    for prefix, title, sp in (("mlp-", "MLP 3072-4000-1000-4000-10", (0.9, 0.95)),
                              ("resnet20-12ep-", "ResNet-20, 12 epochs", (0.9,))):
        t = structure_table(every, prefix, sp)
        if t:
            print("### Structured sparsity, %s\n\n%s\n" % (title, t))
    runs = {k: v for k, v in every.items() if not structured(v[0]) and "-rigl-ref-" not in k}
    # ResNet-20 runs are named resnet20-<E>ep-*: one table per budget.
    budgets = sorted({k.split("-")[1] for k in runs if k.startswith("resnet20-")}, key=lambda b: int(b[:-2]))
    sections = [("mlp-", "MLP 3072-4000-1000-4000-10")]
    sections += [("resnet20-%s-" % b, "ResNet-20, %s epochs" % b[:-2]) for b in budgets]
    # Conv-6 and WRN-22-2 (models from examples/models): conv6-<E>ep-*, wrn22-2-<E>ep-*.
    for model, title in (("conv6", "Conv-6"), ("wrn22-2", "WRN-22-2")):
        eps = sorted({k[len(model) + 1:].split("-")[0] for k in runs if k.startswith(model + "-")},
                     key=lambda b: int(b[:-2]))
        sections += [("%s-%s-" % (model, b), "%s, %s epochs" % (title, b[:-2])) for b in eps]
    for prefix, title in sections:
        t = table(runs, prefix)
        if t:
            print("### %s\n\n%s\n" % (title, t))
    write_dat(runs, docs)


if __name__ == "__main__":
    main()
