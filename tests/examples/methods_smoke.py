"""Short runs of the methods that differ most in how they drive the trainer:
rigl (drop/grow), gmp (pruning from dense), snip (scoring on data before
the first step), lottery (rounds with end_round) and dense, on a tiny
CIFAR-format directory with a small MLP."""
import os

from ex_util import check, programs, run_ok, summary_json, tempdir, write_tiny_cifar

mlp, _ = programs()
with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=400, n_test=100)
    common = ["--data", data, "--limit", "400", "--test-limit", "100", "--widths", "64,32", "--batch", "20",
              "--lr", "0.05"]
    cases = [
        ("rigl", ["--epochs", "2", "--sparsity", "0.8", "--delta-t", "5"], 0.8),
        ("gmp", ["--epochs", "2", "--sparsity", "0.8", "--prune-start", "5", "--prune-end", "30",
                 "--prune-freq", "5"], 0.8),
        ("snip", ["--epochs", "1", "--sparsity", "0.7", "--score-batches", "2"], 0.7),
        ("lottery", ["--epochs", "1", "--sparsity", "0.5", "--lottery-rounds", "2"], 0.5),
        ("dense", ["--epochs", "1"], 0.0),
    ]
    for method, args, target in cases:
        out, _ = run_ok(mlp, common + ["--method", method] + args)
        s = summary_json(out)
        check(s["method"] == method, "method %r for %s" % (s["method"], method))
        check(abs(s["sparsity"] - target) < 2e-3, "%s: sparsity %r, expected %r" % (method, s["sparsity"], target))
        check(0 <= s["test_acc"] <= 1, "%s: test_acc %r" % (method, s["test_acc"]))
        if method == "lottery":
            check(s["rounds"] == 3 and s["epochs"] == 3, "lottery: rounds %r epochs %r" % (s["rounds"], s["epochs"]))
        if method == "gmp":
            check(s["topology_updates"] >= 1, "gmp never pruned")
print("ok")
