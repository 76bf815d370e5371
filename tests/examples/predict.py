"""spt-predict (examples/predict.c) on models trained by spt-train-mlp: the
checkpoint and the safetensors export give the training program's own test
accuracy (same data, same normalisation: the training split's statistics
over its first --limit examples; a checkpoint brings its --limit along),
--input classifies a raw file one line per example (and, fed the test
examples normalised here, agrees with the accuracy), and bad usage, a file
that is no model and data of another shape are refused with exit 2, 1, 1
and a one-line message.

First on a tiny IDX data set made here (always), then as on a user's
machine on Fashion-MNIST (--widths 64 --epochs 1 --limit 2000 --test-limit
500); exits 77 (skipped) after the first part when Fashion-MNIST is not
installed."""
import gzip
import json
import os
import struct

from ex_util import FASHION_DIR, SKIP, check, programs, run, run_ok, summary_json, tempdir, write_tiny_cifar, \
    write_tiny_idx

mlp, resnet, predict = programs(("SPT-PREDICT",))


def predicted(args):
    """spt-predict's JSON line (with its summary on stdout before it)."""
    out, err = run_ok(predict, args)
    lines = out.strip().splitlines()
    j = json.loads(lines[-1])
    check(j["program"] == "spt-predict" and j["model"] == args[0], "JSON %r" % j)
    check(any(line.startswith("test accuracy") for line in lines[:-1]), "no summary on stdout: %r" % out)
    check(j["nnz"] > 0 and j["examples_per_second"] > 0 and j["threads"] >= 1, "figures: %r" % j)
    if j["latency_runs"]:
        check(0 < j["latency_us_median"] <= j["latency_us_p90"], "latency: %r" % j)
    return j


def train_and_predict(data, limit, test_limit, flags, d):
    """Train with checkpoint and export; each gives the training program's test_acc."""
    ckpt, export = os.path.join(d, "m.ckpt"), os.path.join(d, "m.safetensors")
    args = flags + ["--limit", str(limit), "--test-limit", str(test_limit),
            "--checkpoint", ckpt, "--export", export] + (["--data", data] if data else [])
    out, _ = run_ok(mlp, args)
    trained = summary_json(out)
    data_args = ["--data", data] if data else []
    # A checkpoint carries the run's --data and --limit; an export needs --limit.
    for model, kind, extra in ((ckpt, "checkpoint", []), (export, "safetensors", ["--limit", str(limit)])):
        j = predicted([model, "--test-limit", str(test_limit), "--batch", "10", "--latency-runs", "21"] + extra +
                      (data_args if kind == "safetensors" else []))
        check(j["kind"] == kind, "%s: kind %r" % (model, j["kind"]))
        check(j["test_examples"] == test_limit and j["train_examples_normalisation"] == limit, "counts: %r" % j)
        check(abs(j["test_acc"] - trained["test_acc"]) < 1e-9,
              "%s: accuracy %r, the training program's %r" % (kind, j["test_acc"], trained["test_acc"]))
    return ckpt, export, trained


def idx_examples(d, split, n):
    """The first n images (bytes of 784) and labels of an IDX directory (plain or .gz)."""
    prefix = "train" if split == "train" else "t10k"

    def read(name):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                return f.read()
        with gzip.open(p + ".gz", "rb") as f:
            return f.read()

    img, lab = read(prefix + "-images-idx3-ubyte"), read(prefix + "-labels-idx1-ubyte")
    return [img[16 + 784 * i:16 + 784 * (i + 1)] for i in range(n)], list(lab[8:8 + n])


def check_input(model, data, limit, n, d):
    """The first n test examples, normalised here with the first `limit` training
    examples' mean and deviation, through --input: n lines, and as many right as
    spt-predict counts with --test-limit n."""
    train, _ = idx_examples(data, "train", limit)
    vals = [b / 255.0 for im in train for b in im]
    mean = sum(vals) / len(vals)
    sd = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
    test, labels = idx_examples(data, "test", n)
    raw = os.path.join(d, "x.f32")
    with open(raw, "wb") as f:
        for im in test:
            f.write(struct.pack("<784f", *[(b / 255.0 - mean) / sd for b in im]))
    out, _ = run_ok(predict, [model, "--input", raw, "--batch", "7"])
    lines = out.split()
    check(len(lines) == n and all(0 <= int(v) < 10 for v in lines), "--input printed %d lines: %r" % (len(lines), out))
    right = sum(int(p) == y for p, y in zip(lines, labels))
    j = predicted([model, "--data", data, "--limit", str(limit), "--test-limit", str(n), "--latency-runs", "0"])
    check(abs(j["test_acc"] * n - right) < 1e-5 * n, "--input: %d of %d right, spt-predict's accuracy %r"
          % (right, n, j["test_acc"]))
    return raw


with tempdir() as d:
    # ---- a tiny data set ----
    data = write_tiny_idx(os.path.join(d, "idx"), n_train=200, n_test=64)
    tiny = ["--widths", "48", "--epochs", "6", "--batch", "16", "--lr", "0.05"]
    ckpt, export, trained = train_and_predict(data, 150, 64, tiny, d)
    check(trained["test_acc"] > 0.5, "the tiny problem was not learnt: %r" % trained["test_acc"])
    raw = check_input(export, data, 150, 30, d)
    with open(raw, "ab") as f:
        f.write(b"\0\0")
    rc, _, err = run(predict, [export, "--input", raw])
    check(rc == 1 and "float32 examples" in err and err.count("\n") == 1, "a cut --input file: exit %d, %r" % (rc, err))

    for args, flag in (([], "MODEL"), ([export, "--batch", "0"], "--batch"), ([export, "--nope", "1"], "--nope"),
                       ([export, export], "unexpected"), ([export, "--format", "x"], "--format"),
                       ([export, "--limit=-1"], "--limit"), ([export, "--threads", "100000"], "--threads"),
                       ([export, "--data"], "--data")):
        rc, out, err = run(predict, args)
        check(rc == 2 and err.count("\n") == 1 and flag in err and not out, "%r: exit %d, stderr %r" % (args, rc, err))
    for args in (["--help"], ["--version"]):
        rc, out, _ = run(predict, args)
        check(rc == 0 and "spt-predict" in out, "%r: exit %d, %r" % (args, rc, out))
    junk = os.path.join(d, "junk")
    with open(junk, "wb") as f:
        f.write(b"not a model at all, not even close")
    for model in (junk, os.path.join(d, "absent")):
        rc, out, err = run(predict, [model, "--data", data])
        check(rc == 1 and model in err and err.count("\n") == 1 and not out, "%s: exit %d, %r" % (model, rc, err))
    with open(ckpt, "rb") as f:
        head = f.read(200)
    with open(junk, "wb") as f:  # a truncated checkpoint: the checkpoint reader's message
        f.write(head)
    rc, _, err = run(predict, [junk, "--data", data])
    check(rc == 1 and "neither" not in err and junk in err, "a cut checkpoint: exit %d, %r" % (rc, err))
    cifar = write_tiny_cifar(os.path.join(d, "cifar"), n_train=100, n_test=40)
    rc, _, err = run(predict, [export, "--data", cifar])
    check(rc == 1 and "the model takes" in err, "other data: exit %d, %r" % (rc, err))
    # A ResNet on CIFAR-format data: the checkpoint brings --data, --format and --limit along.
    rckpt = os.path.join(d, "r.ckpt")
    out, _ = run_ok(resnet, ["--data", cifar, "--depth", "8", "--epochs", "1", "--batch", "20", "--limit", "100",
                             "--test-limit", "40", "--checkpoint", rckpt])
    j = predicted([rckpt, "--test-limit", "40", "--latency-runs", "3", "--threads", "1"])
    check(j["data"] == cifar and j["train_examples_normalisation"] == 100 and j["threads"] == 1, "ResNet: %r" % j)
    check(abs(j["test_acc"] - summary_json(out)["test_acc"]) < 1e-9, "ResNet accuracy %r" % j["test_acc"])

    # ---- Fashion-MNIST ----
    if not os.path.isfile(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")):
        print("SKIP (after the tiny data set's checks): Fashion-MNIST is not installed in " + FASHION_DIR)
        raise SystemExit(SKIP)
    ckpt, export, trained = train_and_predict(None, 2000, 500, ["--widths", "64", "--epochs", "1"], d)
    check_input(ckpt, FASHION_DIR, 2000, 40, d)
print("ok")
