"""--checkpoint / --resume: a run stopped after one epoch (--stop-after 1)
and resumed from its checkpoint ends where an uninterrupted run ends (same
steps, epochs and log rows; losses equal up to the last bits, which the
kernels' timing-based choice of path may change between processes); a
missing checkpoint file exits 1 naming it."""
import os

from ex_util import check, programs, read_csv, run, run_ok, summary_json, tempdir, write_tiny_cifar

mlp, _ = programs()
with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=300, n_test=100)
    common = ["--data", data, "--limit", "300", "--test-limit", "100", "--widths", "32", "--epochs", "3",
              "--batch", "25", "--lr", "0.05", "--method", "rigl", "--sparsity", "0.8", "--delta-t", "5"]
    a_log, b_log, ck = (os.path.join(d, n) for n in ("a.csv", "b.csv", "run.ckpt"))
    a = summary_json(run_ok(mlp, common + ["--log", a_log])[0])

    b1 = summary_json(run_ok(mlp, common + ["--log", b_log, "--checkpoint", ck, "--stop-after", "1"])[0])
    check(b1["epochs"] == 1 and b1["steps"] == 12, "stopped run: epochs %r steps %r" % (b1["epochs"], b1["steps"]))
    check(os.path.isfile(ck), "no checkpoint written")
    b = summary_json(run_ok(mlp, common + ["--log", b_log, "--checkpoint", ck, "--resume", ck])[0])
    check(b["epochs"] == 3 and b["steps"] == 36, "resumed run: epochs %r steps %r" % (b["epochs"], b["steps"]))
    check(b["topology_updates"] == a["topology_updates"], "topology updates %r vs %r" % (b["topology_updates"],
                                                                                      a["topology_updates"]))
    ra, rb = read_csv(a_log), read_csv(b_log)
    check([r["step"] for r in rb] == [12, 24, 36], "resumed log steps %r" % [r["step"] for r in rb])
    for x, y in zip(ra, rb):
        check(abs(x["loss"] - y["loss"]) <= 1e-3 * abs(x["loss"]) + 1e-6,
              "epoch %d loss %r (uninterrupted) vs %r (resumed)" % (x["epoch"], x["loss"], y["loss"]))
        check(x["lr"] == y["lr"] and x["sparsity"] == y["sparsity"], "epoch %d lr/sparsity differ" % x["epoch"])

    missing = os.path.join(d, "nothing.ckpt")
    rc, out, err = run(mlp, common + ["--resume", missing])
    check(rc == 1 and "nothing.ckpt" in err, "missing checkpoint: exit %d, stderr %r" % (rc, err))

# A ResNet (batch norm running statistics, convolutions) resumes too.
_, resnet = programs()
with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=64, n_test=32)
    ck = os.path.join(d, "r.ckpt")
    common = ["--data", data, "--limit", "64", "--test-limit", "32", "--depth", "8", "--epochs", "2",
              "--batch", "32", "--method", "rigl", "--sparsity", "0.5", "--delta-t", "1"]
    s1 = summary_json(run_ok(resnet, common + ["--checkpoint", ck, "--stop-after", "1"])[0])
    s2 = summary_json(run_ok(resnet, common + ["--resume", ck])[0])
    check(s1["steps"] == 2 and s2["steps"] == 4 and s2["epochs"] == 2, "resnet steps %r, %r" % (s1["steps"],
                                                                                             s2["steps"]))
print("ok")
