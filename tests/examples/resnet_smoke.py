"""spt-train-resnet end to end on a tiny CIFAR-10-format directory written
here (the CIFAR reader, augmentation on by default, conv layers): the loss
falls and the JSON summary parses."""
import os

from ex_util import check, programs, read_csv, run_ok, summary_json, tempdir, write_tiny_cifar

_, resnet = programs()
with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=256, n_test=100)
    log = os.path.join(d, "log.csv")
    out, err = run_ok(resnet, ["--data", data, "--limit", "256", "--test-limit", "100", "--depth", "8",
                               "--epochs", "2", "--batch", "32", "--lr", "0.05", "--method", "rigl",
                               "--sparsity", "0.8", "--delta-t", "5", "--log", log])
    rows = read_csv(log)
    check(len(rows) == 2, "expected 2 CSV rows, got %d" % len(rows))
    check(rows[-1]["loss"] < rows[0]["loss"], "loss did not fall: %r" % [r["loss"] for r in rows])
    s = summary_json(out)
    check(s["method"] == "rigl" and abs(s["sparsity"] - 0.8) < 1e-3, "summary %r" % s)
    check(s["model"].startswith("resnet-8"), "model %r" % s["model"])
    check(s["steps"] == 16, "steps %r" % s["steps"])
    check(s["topology_updates"] >= 1, "RigL never updated the topology")
print("ok")
