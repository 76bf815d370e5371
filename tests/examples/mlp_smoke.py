"""spt-train-mlp end to end on a Fashion-MNIST slice: the loss falls, the
CSV log has one row per epoch and the last stdout line is the JSON summary."""
import os

from ex_util import check, need_fashion, programs, read_csv, run_ok, summary_json, tempdir

mlp, _ = programs()
need_fashion()
with tempdir() as d:
    log = os.path.join(d, "log.csv")
    out, err = run_ok(mlp, ["--limit", "2000", "--test-limit", "1000", "--widths", "256,128", "--epochs", "3",
                            "--batch", "32", "--method", "rigl", "--sparsity", "0.9", "--delta-t", "50",
                            "--log", log])
    rows = read_csv(log)
    check(len(rows) == 3, "expected 3 CSV rows, got %d" % len(rows))
    check([r["epoch"] for r in rows] == [1, 2, 3], "epochs %r" % [r["epoch"] for r in rows])
    check(rows[-1]["step"] == 3 * 63, "steps %r" % rows[-1]["step"])
    check(rows[-1]["loss"] < rows[0]["loss"], "loss did not fall: %r" % [r["loss"] for r in rows])
    check(err.count("\n") == 3 and "\r" not in err, "stderr is not one line per epoch:\n" + err)
    s = summary_json(out)
    check(s["method"] == "rigl", "method %r" % s["method"])
    check(abs(s["sparsity"] - 0.9) < 1e-3, "sparsity %r" % s["sparsity"])
    check(s["test_acc"] > 0.5, "test accuracy %r after 3 epochs" % s["test_acc"])
    check(s["nnz"] < s["params_dense"] * 0.11, "nnz %r of %r" % (s["nnz"], s["params_dense"]))
    check(0 < s["infer_flops"] < s["infer_flops_dense"], "FLOPs %r" % s)
    check(s["epochs"] == 3 and s["steps"] == 189, "epochs/steps %r/%r" % (s["epochs"], s["steps"]))
    check(s["topology_updates"] >= 1, "RigL never updated the topology")

    # --progress draws the in-place line even without a terminal.
    out, err = run_ok(mlp, ["--limit", "500", "--test-limit", "200", "--widths", "32", "--epochs", "1",
                            "--batch", "50", "--progress"])
    check("\r" in err and "ETA" in err and "ex/s" in err, "no progress line:\n" + err)
    summary_json(out)
print("ok")
