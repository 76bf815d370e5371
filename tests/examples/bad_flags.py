"""Every bad flag or value exits 2 with one line on stderr and nothing on
stdout, before any data is read (the cases run with --data pointing
nowhere, which would exit 1 if they got that far): the thread count above
SPT_MAX_THREADS, --batch above the examples known without reading them, a
model larger than the machine's memory (--widths 3000000,3000000); values
that only the data's size makes bad (a run too long to count) too, once it
is read. --help and --version exit 0. (flag_matrix.py tries every flag.)"""
import os

from ex_util import check, programs, run, tempdir, write_tiny_cifar

mlp, resnet = programs()
NOWHERE = ["--data", "/nonexistent/spt-examples-data"]

BOTH = [
    ["--bogus"],
    ["positional"],
    ["-e", "3"],
    ["--epochs"],
    ["--epochs", "abc"],
    ["--epochs", "0"],
    ["--epochs=-3"],
    ["--epochs", "2.5"],
    ["--batch", "0"],
    ["--limit", "-5"],
    ["--threads", "-1"],
    ["--warmup", "-1"],
    ["--seed", "x"],
    ["--method", "foo"],
    ["--method"],
    ["--sparsity", "1.5"],
    ["--sparsity", "-0.1"],
    ["--sparsity", "nan"],
    ["--sparsity", "0.9x"],
    ["--distribution", "gaussian"],
    ["--dense-first=1"],
    ["--delta-t", "0"],
    ["--alpha", "2"],
    ["--t-end", "2.5"],
    ["--t-end", "-0.5"],
    ["--drop-schedule", "exp"],
    ["--snfs-momentum", "1"],
    ["--prune-start", "-2"],
    ["--prune-freq", "0"],
    ["--initial-sparsity", "1"],
    ["--lottery-rounds", "5000", "--method", "lottery"],
    ["--lottery-rate", "1"],
    ["--method", "lottery", "--sparsity", "0.999999", "--lottery-rate", "0.001"],
    ["--rewind-step", "-1"],
    ["--score-batches", "0"],
    ["--synflow-iters", "0"],
    ["--optimizer", "rmsprop"],
    ["--lr", "-1"],
    ["--lr", "0"],
    ["--momentum", "1.5"],
    ["--optimizer", "adam", "--momentum", "0.5"],
    ["--weight-decay", "-1"],
    ["--lr-schedule", "exp"],
    ["--lr-schedule", "step", "--gamma", "0"],
    ["--lr-schedule", "step", "--milestones", "5,x"],
    ["--lr-schedule", "step", "--milestones", ""],
    ["--lr-schedule", "step", "--milestones", "8,4"],
    ["--milestones", "3"],
    ["--format", "png"],
    ["--log", ""],
    ["--eval-batch", "0"],
    ["--stop-after", "-1"],
    ["--threads", "99999999999"],
    ["--threads", "100000"],
    ["--epochs", "9223372036854775807"],
    ["--batch", "50001", "--format", "cifar10"],
    ["--batch", "11", "--limit", "10"],
    ["--batch", "100000000000"],
]
MLP_ONLY = [
    ["--widths", "2147483648"],
    ["--widths", "3000000,3000000"],
    ["--widths", "3000000", "--method", "dense", "--threads", "1"] if os.sysconf("SC_PHYS_PAGES") *
    os.sysconf("SC_PAGE_SIZE") < 28 * 2**30 else ["--widths", "30000000", "--method", "dense"],
    ["--widths", "10,,5"],
    ["--widths", "0"],
    ["--widths", "-4"],
    ["--dropout", "1"],
    ["--dropout", "-0.5"],
    ["--depth", "20"],
]
RESNET_ONLY = [
    ["--depth", "6008"],
    ["--width", "100000"],
    ["--depth", "21"],
    ["--depth", "2"],
    ["--width", "0"],
    ["--widths", "100"],
    ["--dropout", "0.5"],
]

bad = []
for prog, cases in ((mlp, BOTH + MLP_ONLY), (resnet, BOTH + RESNET_ONLY)):
    for args in cases:
        rc, out, err = run(prog, NOWHERE + args, timeout=120)
        lines = err.strip().splitlines()
        if rc != 2 or out or len(lines) != 1:
            bad.append("%s %s: exit %d, stdout %r, stderr %r" % (prog.split("/")[-1], " ".join(args), rc, out, err))
# Values that are bad only against the data: these read a tiny data set first.
with tempdir() as d:
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=20, n_test=10)
    small = ["--data", data, "--limit", "20", "--test-limit", "10", "--batch", "10"]
    for prog, args in ((mlp, ["--lr-schedule", "step", "--milestones", "9223372036854775807"]),
                       (mlp, ["--method", "gmp", "--prune-start", "5", "--prune-end", "3"]),
                       (mlp, ["--warmup", "100", "--epochs", "2"])):
        rc, out, err = run(prog, small + args, timeout=120)
        if rc != 2 or out or len(err.strip().splitlines()) != 1:
            bad.append("%s %s: exit %d, stdout %r, stderr %r" % (prog.split("/")[-1], " ".join(args), rc, out, err))
check(not bad, "bad flags not refused with exit 2 and one line:\n" + "\n".join(bad))

for prog in (mlp, resnet):
    rc, out, err = run(prog, ["--help"])
    check(rc == 0 and "--method" in out and "--sparsity" in out and not err, "--help: exit %d" % rc)
    rc, out, err = run(prog, ["--version"])
    check(rc == 0 and "libsparsetrain" in out, "--version: exit %d %r" % (rc, out))
print("ok (%d cases)" % (len(BOTH) * 2 + len(MLP_ONLY) + len(RESNET_ONLY)))
