"""--model FILE: both programs train a network from a model file
(examples/models, docs/models.md) with any method; the summary counts its
parameters; a file the format refuses, a network whose input or output
does not fit the data, and flags of the programs' own networks next to
--model exit 2 before training; an unreadable file exits 1."""
import os

from ex_util import check, programs, run, run_ok, summary_json, tempdir, write_tiny_cifar

mlp, resnet = programs()
MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "models")
NOWHERE = ["--data", "/nonexistent/spt-examples-data"]


def model(name):
    return os.path.join(MODELS, name)


def expect_usage(prog, args, text):
    rc, out, err = run(prog, args)
    check(rc == 2, "%s: exit %d, expected 2\n%s" % (" ".join(args), rc, err))
    check(out == "", "%s: wrote on stdout: %r" % (" ".join(args), out))
    check(text in err, "%s: stderr %r lacks %r" % (" ".join(args), err, text))


with tempdir() as d:
    # Refusals (no data read: --data points nowhere, which would exit 1).
    bad = os.path.join(d, "bad.model")
    with open(bad, "w") as f:
        f.write("input 3 32 32\nconv2d out=16 kernal=3\n")
    for prog in (mlp, resnet):
        expect_usage(prog, NOWHERE + ["--model", bad], "bad.model:2: unknown key \"kernal\"")
    expect_usage(mlp, NOWHERE + ["--model", model("lenet-5.model"), "--widths", "100"], "--widths does not apply")
    expect_usage(mlp, NOWHERE + ["--model", model("lenet-5.model"), "--dropout", "0.1"], "--dropout does not apply")
    expect_usage(resnet, NOWHERE + ["--model", model("resnet-20.model"), "--depth", "32"], "--depth does not apply")
    expect_usage(resnet, NOWHERE + ["--model", model("resnet-20.model"), "--width", "2"], "--width does not apply")
    rc, out, err = run(resnet, NOWHERE + ["--model", os.path.join(d, "missing.model")])
    check(rc == 1 and "missing.model" in err, "missing file: exit %d, %r" % (rc, err))

    # CIFAR-10 shaped data: the ResNet-20 file is the built-in ResNet-20, here with SET.
    data = write_tiny_cifar(os.path.join(d, "cifar"), n_train=64, n_test=32)
    common = ["--data", data, "--limit", "64", "--test-limit", "32", "--epochs", "1", "--batch", "32"]
    out, _ = run_ok(resnet, common + ["--model", model("resnet-20.model"), "--method", "set", "--delta-t", "1"])
    s = summary_json(out)
    out, _ = run_ok(resnet, common + ["--depth", "20", "--method", "set", "--delta-t", "1"])
    builtin = summary_json(out)
    check(s["model"] == "model resnet-20.model", "model %r" % s["model"])
    check(s["method"] == "set" and s["params_all_dense"] == builtin["params_all_dense"] == 272474,
          "resnet-20.model: %r vs --depth 20: %r" % (s["params_all_dense"], builtin["params_all_dense"]))
    check(s["test_acc"] == builtin["test_acc"], "the file and --depth 20 trained differently")
    # Conv-2 through spt-train-mlp (any program takes any file), GMP.
    out, _ = run_ok(mlp, common + ["--model", model("conv-2.model"), "--method", "gmp"])
    check(summary_json(out)["params_all_dense"] == 4301642, "conv-2 count")
    # The input line must match the data.
    expect_usage(resnet, common + ["--model", model("lenet-5.model")],
                 "the network's input is 1 x 28 x 28, the data's examples are 3 x 32 x 32")
    ten = os.path.join(d, "three.model")
    with open(ten, "w") as f:
        f.write("input 3 32 32\nflatten\nlinear out=3\n")
    expect_usage(resnet, common + ["--model", ten], "the last layer has 3 outputs, the data has 10 classes")
print("ok")
