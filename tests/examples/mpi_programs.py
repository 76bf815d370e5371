"""The training programs under mpirun -np 2 (docs/distributed.md): one
progress/summary output (rank 0), "ranks": 2 in it, one checkpoint; a run
stopped after an epoch and resumed on 2 ranks ends as the uninterrupted one
(bit for bit: the same losses and accuracies), and resumes in one process
too; a ResNet (batch norm synchronised, convolutions) trains; a failure on the data stops both ranks with the
message; --no-mpi gives two independent runs. Registered only when the
build has MPI; argv: the programs, then mpiexec."""
import json
import os
import subprocess

from ex_util import check, programs, read_csv, tempdir, write_tiny_cifar

mlp, resnet, mpiexec = programs(("MPIEXEC",))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMP_NUM_THREADS="1")


def mpirun(prog, args, n=2):
    p = subprocess.run([mpiexec, "--oversubscribe", "-np", str(n), prog] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=ENV, timeout=500)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def jsons(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=400, n_test=100)
    common = ["--data", data, "--limit", "400", "--test-limit", "100", "--widths", "64", "--epochs", "3",
              "--batch", "40", "--lr", "0.05", "--method", "rigl", "--sparsity", "0.8", "--delta-t", "5",
              "--threads", "1"]
    a_log, b_log, ck = (os.path.join(d, n) for n in ("a.csv", "b.csv", "run.ckpt"))
    rc, out, err = mpirun(mlp, common + ["--log", a_log])
    check(rc == 0, "2 ranks: exit %d\n%s\n%s" % (rc, out, err))
    js = jsons(out)
    check(len(js) == 1 and js[0]["ranks"] == 2 and js[0]["steps"] == 30, "one summary of 2 ranks: %r" % js)
    check(err.count("epoch 3/3") == 1, "one epoch line per epoch: %r" % err)
    a = js[0]

    rc, out, err = mpirun(mlp, common + ["--log", b_log, "--checkpoint", ck, "--stop-after", "1"])
    check(rc == 0 and os.path.isfile(ck), "stopped run: exit %d\n%s" % (rc, err))
    rc, out, err = mpirun(mlp, common + ["--log", b_log, "--checkpoint", ck, "--resume", ck])
    check(rc == 0, "resumed run: exit %d\n%s" % (rc, err))
    b = jsons(out)[0]
    ra, rb = read_csv(a_log), read_csv(b_log)
    check(len(ra) == 3 and len(rb) == 3, "log rows %d and %d" % (len(ra), len(rb)))
    for x, y in zip(ra, rb):
        check((x["loss"], x["train_acc"], x["test_acc"]) == (y["loss"], y["train_acc"], y["test_acc"]),
              "epoch %d: %r (uninterrupted) vs %r (resumed)" % (x["epoch"], x, y))
    check(a["test_acc"] == b["test_acc"] and a["train_loss"] == b["train_loss"], "summaries %r vs %r" % (a, b))

    # The 2-rank checkpoint resumes in one process too (docs/distributed.md).
    ck1 = os.path.join(d, "one.ckpt")
    rc, out, err = mpirun(mlp, common + ["--checkpoint", ck1, "--stop-after", "1"])
    check(rc == 0 and os.path.isfile(ck1), "stopped 2-rank run: exit %d\n%s" % (rc, err))
    p = subprocess.run([mlp] + common + ["--resume", ck1], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=500)
    js = jsons(p.stdout.decode())
    check(p.returncode == 0 and len(js) == 1 and js[0]["ranks"] == 1 and js[0]["steps"] == 30,
          "1-process resume of a 2-rank checkpoint: exit %d %r\n%s" % (p.returncode, js, p.stderr.decode()))

    # A ResNet: batch norm statistics and convolutions' dense gradients for RigL.
    rc, out, err = mpirun(resnet, ["--data", data, "--limit", "64", "--test-limit", "32", "--depth", "8",
                                   "--epochs", "1", "--batch", "16", "--method", "rigl", "--sparsity", "0.8",
                                   "--delta-t", "2", "--threads", "1", "--sync-bn"])
    check(rc == 0 and len(jsons(out)) == 1, "ResNet on 2 ranks: exit %d\n%s" % (rc, err))

    # Two independent runs with --no-mpi (each prints its own summary).
    rc, out, err = mpirun(mlp, common + ["--epochs", "1", "--no-mpi"])
    js = jsons(out)
    check(rc == 0 and len(js) == 2 and all(j["ranks"] == 1 for j in js), "--no-mpi: %r\n%s" % (js, err))

    # A batch that leaves a rank no example is refused on both ranks.
    rc, out, err = mpirun(mlp, common + ["--batch", "1"])
    check(rc != 0 and "batch" in err, "--batch 1 on 2 ranks: exit %d\n%s" % (rc, err))
print("ok")
