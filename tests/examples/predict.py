"""spt-predict (examples/predict.c) on a model trained by spt-train-mlp: the
checkpoint and the safetensors export give the training program's own test
accuracy (same data, same normalisation), --input classifies a raw file one
line per example, and bad usage, a file that is no model and data of
another shape are refused with exit 2, 1, 1 and a message. Runs on a tiny
IDX data set made here (no download)."""
import json
import os
import struct

from ex_util import check, programs, run, run_ok, summary_json, tempdir, write_tiny_cifar, write_tiny_idx

mlp, _ = programs()
predict = os.path.join(os.path.dirname(mlp), "spt-predict")

with tempdir() as d:
    data = write_tiny_idx(os.path.join(d, "idx"), n_train=200, n_test=64)
    ckpt, export = os.path.join(d, "m.ckpt"), os.path.join(d, "m.safetensors")
    out, _ = run_ok(mlp, ["--data", data, "--widths", "48", "--epochs", "2", "--batch", "16", "--limit", "150",
                          "--checkpoint", ckpt, "--export", export])
    trained = summary_json(out)
    for model, kind in ((ckpt, "checkpoint"), (export, "safetensors")):
        out, err = run_ok(predict, [model, "--data", data, "--limit", "150", "--batch", "10", "--latency-runs", "20"])
        j = json.loads(out.strip().splitlines()[-1])
        check(j["kind"] == kind, "%s: kind %r" % (model, j["kind"]))
        check(j["test_examples"] == 64, "test examples %r" % j["test_examples"])
        check(abs(j["test_acc"] - trained["test_acc"]) < 1e-9,
              "%s: accuracy %r, the training program's %r" % (kind, j["test_acc"], trained["test_acc"]))
        check(j["nnz"] > 0 and j["examples_per_second"] > 0 and 0 < j["latency_us_median"] <= j["latency_us_p90"],
              "figures: %r" % j)
        check("accuracy" in err and "latency" in err, "summary on stderr: %r" % err)

    raw = os.path.join(d, "x.f32")
    with open(raw, "wb") as f:
        f.write(struct.pack("<%df" % (5 * 784), *([0.5] * (5 * 784))))
    out, _ = run_ok(predict, [export, "--input", raw])
    lines = out.split()
    check(len(lines) == 5 and all(0 <= int(v) < 10 for v in lines), "--input printed %r" % out)
    with open(raw, "ab") as f:
        f.write(b"\0\0")
    rc, _, err = run(predict, [export, "--input", raw])
    check(rc == 1 and "float32 examples" in err, "a cut --input file: exit %d, %r" % (rc, err))

    for args in ([], [export, "--batch", "0"], [export, "--nope", "1"], [export, export], [export, "--format", "x"]):
        rc, out, err = run(predict, args)
        check(rc == 2 and err.count("\n") == 1 and not out, "%r: exit %d, stderr %r" % (args, rc, err))
    junk = os.path.join(d, "junk")
    with open(junk, "wb") as f:
        f.write(b"not a model at all")
    rc, _, err = run(predict, [junk, "--data", data])
    check(rc == 1 and "neither a safetensors export" in err, "junk: exit %d, %r" % (rc, err))
    cifar = write_tiny_cifar(os.path.join(d, "cifar"), n_train=20, n_test=10)
    rc, _, err = run(predict, [export, "--data", cifar])
    check(rc == 1 and "the model takes" in err, "other data: exit %d, %r" % (rc, err))
print("ok")
