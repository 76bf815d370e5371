"""Helpers of the example programs' smoke tests (run by ctest, see examples/CMakeLists.txt).

Each test script is called as: python3 TEST.py PATH/spt-train-mlp PATH/spt-train-resnet
(predict.py: and PATH/spt-predict)
"""
import json
import os
import subprocess
import sys
import tempfile

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SKIP = 77  # ctest SKIP_RETURN_CODE

REQUIRED_KEYS = ("method", "sparsity", "test_acc", "nnz", "params_dense", "train_flops_per_example",
                 "infer_flops", "epochs", "seconds", "step_seconds", "method_init_seconds", "method_hook_share")

CIFAR_RECORD = 3073
CIFAR_PER_FILE = 10000


def programs(extra=()):
    """The training programs' paths, then one for each name in extra (a test
    registered with more programs, e.g. ("SPT-PREDICT",))."""
    if len(sys.argv) != 3 + len(extra):
        sys.exit("usage: %s SPT-TRAIN-MLP SPT-TRAIN-RESNET%s" % (sys.argv[0], "".join(" " + e for e in extra)))
    return tuple(sys.argv[1:])


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(prog, args, timeout=500):
    """Run a program; return (rc, stdout, stderr) as text."""
    cmd = [prog] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    # Decoded by hand: text mode would turn the progress line's \r into \n.
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_ok(prog, args):
    rc, out, err = run(prog, args)
    if rc != 0:
        fail("%s %s exited %d\nstdout:\n%s\nstderr:\n%s" % (os.path.basename(prog), " ".join(args), rc, out, err))
    return out, err


def summary_json(out):
    """The JSON object on the last stdout line, with the required keys checked."""
    lines = out.strip().splitlines()
    check(lines, "no output on stdout")
    try:
        obj = json.loads(lines[-1])
    except ValueError as e:
        fail("last stdout line is not JSON (%s): %r" % (e, lines[-1]))
    for k in REQUIRED_KEYS:
        check(k in obj, "JSON summary lacks %r: %s" % (k, lines[-1]))
    return obj


def read_csv(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    header = ["epoch", "step", "loss", "train_acc", "test_acc", "lr", "sparsity", "seconds"]
    check(rows and rows[0] == header, "CSV header is %r" % (rows[0] if rows else None))
    return [dict(zip(header, map(float, r))) for r in rows[1:]]


def need_fashion():
    if not os.path.isfile(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST is not installed in " + FASHION_DIR)
        sys.exit(SKIP)


def write_tiny_cifar(d, n_train=600, n_test=200, seed=7):
    """A CIFAR-10 binary directory whose first n_train (n_test) records are
    a learnable toy problem: class k has its own mean colour per channel plus
    noise. The files have their standard size (10000 records); the rest is a
    hole (sparse file, label 0, black), never read with --limit/--test-limit."""
    import random
    os.makedirs(d, exist_ok=True)
    rnd = random.Random(seed)
    base = [[rnd.randrange(0, 192) for _ in range(3)] for _ in range(10)]
    # Noise in [0, 64): a byte table maps 0..255 to lo + b // 4.
    tables = {}

    def record(label):
        out = bytearray([label])
        for c in range(3):
            lo = base[label][c]
            t = tables.get(lo)
            if t is None:
                t = tables[lo] = bytes(lo + b // 4 for b in range(256))
            out += os.urandom(1024).translate(t)
        return bytes(out)

    def write(name, n):
        with open(os.path.join(d, name), "wb") as f:
            for i in range(n):
                f.write(record(rnd.randrange(10)))
            f.truncate(CIFAR_RECORD * CIFAR_PER_FILE)

    write("data_batch_1.bin", n_train)
    for i in range(2, 6):
        write("data_batch_%d.bin" % i, 0)
    write("test_batch.bin", n_test)
    return d


def write_tiny_idx(d, n_train=96, n_test=32, seed=3):
    """An MNIST-style directory (plain IDX files, 28 x 28, 10 classes) of a
    learnable toy problem: class k brightens its own band of rows."""
    import random
    import struct
    os.makedirs(d, exist_ok=True)
    rnd = random.Random(seed)

    def write(prefix, n):
        labels = [rnd.randrange(10) for _ in range(n)]
        img = bytearray(struct.pack(">IIII", 0x803, n, 28, 28))
        for k in labels:
            px = bytearray(os.urandom(784))
            for r in range(2 * k + 4, 2 * k + 8):
                for c in range(28):
                    px[r * 28 + c] = 255
            img += px
        with open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(img)
        with open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(labels))

    write("train", n_train)
    write("t10k", n_test)
    return d


def tempdir():
    return tempfile.TemporaryDirectory(prefix="spt-examples-")
