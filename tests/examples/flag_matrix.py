"""The flag matrix: every flag of every example program, given a value out of
its documented range, a non-number, an empty value and a huge one (beyond
int64 or double, or a 5000-byte string), exits 2 with one line on stderr
that names the flag, and nothing on stdout, before any data is read (--data
points at a directory that does not exist: reaching the data would exit 1
with a message about it). The flags come from each program's --help, so a
new flag without a row here fails the test. The positional arguments of
spt-train-custom and spt-user-method get the same treatment."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from ex_util import check, programs, run

mlp, resnet = programs()
NOWHERE = "/nonexistent/spt-examples-data"
HUGE_INT = "9" * 30
HUGE_DBL = "1e999"
HUGE_STR = "x" * 5000

# name: (kind, [out-of-range values], [flags that make the flag apply])
INT, DBL, PATH, LIST, CHOICE, SWITCH, EXIT0 = "int", "dbl", "path", "list", "choice", "switch", "exit0"
STEP = ["--lr-schedule", "step"]
TABLE = {
    "data": (PATH, [], []),
    "format": (CHOICE, [], []),
    "limit": (INT, ["-1"], []),
    "test-limit": (INT, ["-1"], []),
    "augment": (SWITCH, [], []),
    "no-augment": (SWITCH, [], []),
    "model": (PATH, [], []),
    "widths": (LIST, ["0", "-4", "3000000000", "10,,5", "3000000,3000000"], []),
    "dropout": (DBL, ["1", "-0.5"], []),
    "depth": (INT, ["7", "21", "6008"], []),
    "width": (INT, ["0", "1048577", "100000"], []),
    "method": (CHOICE, [], []),
    "sparsity": (DBL, ["1", "1.5", "-0.1"], []),
    "epsilon": (DBL, ["-1", "2e9"], []),
    "distribution": (CHOICE, [], []),
    "dense-first": (SWITCH, [], []),
    "dense-last": (SWITCH, [], []),
    "sparse-init": (SWITCH, [], []),
    "no-sparse-init": (SWITCH, [], []),
    "delta-t": (INT, ["0"], []),
    "alpha": (DBL, ["1.5", "-0.1"], []),
    "t-end": (DBL, ["-0.5", "2.5"], []),
    "drop-schedule": (CHOICE, [], []),
    "grow-sample": (DBL, ["-1", "2e9"], []),
    "structure": (CHOICE, [], []),
    "structure-n": (INT, ["0", "1000001"], []),
    "structure-m": (INT, ["0", "1000001"], []),
    "nm": (LIST, ["0:4", "2:0", "5:4", "2:", ":4", "2-4"], []),
    "ablation": (DBL, ["-0.1", "1.5"], []),
    "snfs-momentum": (DBL, ["1", "-0.1"], []),
    "prune-start": (INT, ["-2"], []),
    "prune-end": (INT, ["-2"], []),
    "prune-freq": (INT, ["0"], []),
    "initial-sparsity": (DBL, ["1", "-0.1"], []),
    "global": (SWITCH, [], []),
    "no-global": (SWITCH, [], []),
    "lottery-rounds": (INT, ["-1", "5000"], []),
    "lottery-rate": (DBL, ["0", "1"], []),
    "rewind-step": (INT, ["-1"], []),
    "score-batches": (INT, ["0", "2000000"], []),
    "synflow-iters": (INT, ["0", "2000000"], []),
    "epochs": (INT, ["0", "1000001"], []),
    "batch": (INT, ["0", "1000000000000"], []),
    "optimizer": (CHOICE, [], []),
    "lr": (DBL, ["0", "-1"], []),
    "lr-schedule": (CHOICE, [], []),
    "warmup": (INT, ["-1"], []),
    "milestones": (LIST, ["0", "8,4", "5,x"], STEP),
    "gamma": (DBL, ["0", "-1"], STEP),
    "momentum": (DBL, ["1", "-0.5"], []),
    "nesterov": (SWITCH, [], []),
    "weight-decay": (DBL, ["-1"], []),
    "seed": (INT, ["-1"], []),
    "threads": (INT, ["-1", "1025", "100000"], []),
    "dispatch": (CHOICE, [], []),
    "eval-batch": (INT, ["0", "1000000000000"], []),
    "log": (PATH, [], []),
    "checkpoint": (PATH, [], []),
    "resume": (PATH, [], []),
    "init-from": (PATH, [], []),
    "export": (PATH, [], []),
    "export-dense": (SWITCH, [], ["--export", "/nonexistent/spt-export.safetensors"]),
    "stop-after": (INT, ["-1", "1000001"], []),
    "progress": (SWITCH, [], []),
    "sync-bn": (SWITCH, [], []),
    "no-mpi": (SWITCH, [], []),
    "help": (EXIT0, [], []),
    "version": (EXIT0, [], []),
}


def help_flags(prog):
    rc, out, err = run(prog, ["--help"])
    check(rc == 0, "--help: exit %d" % rc)
    names = []
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("--"):
            names.append(s.split()[0][2:])
    return names


def values(kind, out_of_range):
    """The bad values of a flag of this kind: (label, value) pairs."""
    if kind == SWITCH:
        return [("a value", "=1"), ("an empty value", "=")]
    v = [("empty", "")]
    if kind in (INT, DBL, LIST):
        v.append(("not a number", "abc"))
    if kind == CHOICE:
        v.append(("not a choice", "abc"))
    v.append(("huge", {INT: HUGE_INT, DBL: HUGE_DBL}.get(kind, HUGE_STR)))
    v += [("out of range", x) for x in out_of_range]
    return v


def cases(prog):
    names = help_flags(prog)
    missing = [n for n in names if n not in TABLE]
    check(not missing, "%s: flags of --help without a row in the matrix: %s" % (prog, missing))
    out = []
    for name in names:
        kind, bad, context = TABLE[name]
        if kind == EXIT0:
            continue
        for label, value in values(kind, bad):
            args = ["--data", NOWHERE] if name != "data" else []
            if kind == SWITCH:
                args += context + ["--" + name + value]
            else:
                args += context + ["--" + name, value]
            out.append((prog, name, label, args))
    return out


def verdict(case):
    prog, name, label, args = case
    rc, out, err = run(prog, args, timeout=120)
    lines = err.strip().splitlines()
    ok = (rc == 2 and not out and len(lines) == 1 and ("--" + name) in err and NOWHERE not in err)
    if ok:
        return None
    shown = [a if len(a) < 80 else a[:20] + "...(%d bytes)" % len(a) for a in args]
    return "%s %s (%s): exit %d, stdout %r, stderr %r" % (os.path.basename(prog), " ".join(shown), label, rc,
                                                          out[:200], err[:300])


all_cases = cases(mlp) + cases(resnet)
with ThreadPoolExecutor(max_workers=2) as pool:
    bad = [v for v in pool.map(verdict, all_cases) if v]

# The two programs with positional arguments.
bindir = os.path.dirname(mlp)
POSITIONAL = [
    ("spt-train-custom", "EPOCHS", 0, ["0", "1000001"], "int"),
    ("spt-train-custom", "TRAIN_LIMIT", 1, ["-1"], "int"),
    ("spt-train-custom", "DATA_DIR", 2, [], "path"),
    ("spt-train-custom", "CHECKPOINT", 3, [], "path"),
    ("spt-user-method", "STEPS", 0, ["0", "1000001"], "int"),
    ("spt-user-method", "DATA_DIR", 1, [], "path"),
]
DEFAULTS = {"spt-train-custom": ["1", "10", NOWHERE, "x.ckpt"], "spt-user-method": ["10", NOWHERE]}
n_positional = 0
for exe, name, pos, out_of_range, kind in POSITIONAL:
    path = os.path.join(bindir, exe)
    if not os.path.exists(path):
        continue
    bads = [("", "empty"), (HUGE_INT if kind == "int" else HUGE_STR, "huge")]
    if kind == "int":
        bads.append(("abc", "not a number"))
    bads += [(v, "out of range") for v in out_of_range]
    for value, label in bads:
        args = list(DEFAULTS[exe])
        args[pos] = value
        rc, out, err = run(path, args, timeout=120)
        n_positional += 1
        if rc != 2 or len(err.strip().splitlines()) != 1 or name not in err or NOWHERE in err:
            bad.append("%s %s (%s): exit %d, stderr %r" % (exe, name, label, rc, err[:300]))
    rc, out, err = run(path, DEFAULTS[exe] + ["extra"], timeout=120)
    n_positional += 1
    if rc != 2 or "usage" not in err:
        bad.append("%s with too many arguments: exit %d, stderr %r" % (exe, rc, err[:300]))

# The memory check before the data follows --epsilon's allocation, not the
# default sparsity: 3 x 300,000 at epsilon 20 (about 36 million nonzeros)
# reaches the data; at epsilon 10^6 (dense) it is refused, naming the flag.
huge = ["--widths", "300000,300000,300000", "--method", "set", "--distribution", "er", "--batch", "8",
        "--eval-batch", "8", "--data", NOWHERE]
rc, out, err = run(mlp, huge + ["--epsilon", "20"], timeout=120)
if rc != 1 or NOWHERE not in err:
    bad.append("--epsilon 20 at 3 x 300,000 should pass the memory check: exit %d, stderr %r" % (rc, err[:300]))
rc, out, err = run(mlp, huge + ["--epsilon", "1e6"], timeout=120)
if rc != 2 or "--epsilon" not in err or NOWHERE in err:
    bad.append("--epsilon 1e6 at 3 x 300,000 should be refused naming --epsilon: exit %d, stderr %r" % (rc, err[:300]))

check(not bad, "%d of %d cases not refused with exit 2 and one line naming the flag:\n%s" %
      (len(bad), len(all_cases) + n_positional, "\n".join(bad)))
print("ok (%d cases)" % (len(all_cases) + n_positional))
