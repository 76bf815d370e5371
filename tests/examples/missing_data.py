"""Missing or corrupt data: a non-zero exit (1) and a message that names the
directory or the file; a looping symbolic link or a directory in place of a
data file is named as such."""
import os

from ex_util import CIFAR_PER_FILE, CIFAR_RECORD, check, programs, run, tempdir, write_tiny_cifar

mlp, resnet = programs()
with tempdir() as d:
    missing = os.path.join(d, "no-such-dir")
    for prog in (mlp, resnet):
        rc, out, err = run(prog, ["--data", missing, "--epochs", "1"])
        check(rc == 1 and missing in err and not out, "missing dir: exit %d, stderr %r" % (rc, err))

    # An empty directory: the first file looked for is named.
    empty = os.path.join(d, "empty")
    os.mkdir(empty)
    rc, out, err = run(mlp, ["--data", empty, "--format", "idx"])
    check(rc == 1 and "train-images" in err, "empty idx dir: exit %d, stderr %r" % (rc, err))
    rc, out, err = run(mlp, ["--data", empty, "--format", "cifar10"])
    check(rc == 1 and "data_batch_1.bin" in err, "empty cifar dir: exit %d, stderr %r" % (rc, err))

    # A truncated CIFAR batch file is named.
    cifar = write_tiny_cifar(os.path.join(d, "cifar"), n_train=10, n_test=10)
    bad = os.path.join(cifar, "data_batch_3.bin")
    with open(bad, "r+b") as f:
        f.truncate(CIFAR_RECORD * CIFAR_PER_FILE - 100)
    rc, out, err = run(resnet, ["--data", cifar, "--limit", "10", "--batch", "10"])
    check(rc == 1 and "data_batch_3.bin" in err, "truncated file: exit %d, stderr %r" % (rc, err))

    # A log file that cannot be written.
    good = write_tiny_cifar(os.path.join(d, "cifar2"), n_train=20, n_test=10)
    rc, out, err = run(mlp, ["--data", good, "--limit", "20", "--batch", "10", "--widths", "8", "--epochs", "1",
                             "--log", os.path.join(missing, "log.csv")])
    check(rc == 1 and "log.csv" in err, "unwritable log: exit %d, stderr %r" % (rc, err))
    # A looping symbolic link or a directory where a data file should be: a
    # message about that path (exit 1), not a format error.
    loop = os.path.join(d, "loop")
    os.mkdir(loop)
    os.symlink("train-images-idx3-ubyte.gz", os.path.join(loop, "train-images-idx3-ubyte.gz"))
    rc, out, err = run(mlp, ["--data", loop])
    check(rc == 1 and "train-images-idx3-ubyte.gz" in err and "loops" in err, "symlink loop: exit %d %r" % (rc, err))
    dirs = os.path.join(d, "dirs")
    os.makedirs(os.path.join(dirs, "train-images-idx3-ubyte"))
    with open(os.path.join(dirs, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 0]))
    rc, out, err = run(mlp, ["--data", dirs])
    check(rc == 1 and "train-images-idx3-ubyte is a directory" in err, "directory as a file: exit %d %r" % (rc, err))
    cif = os.path.join(d, "cifdir")
    os.makedirs(os.path.join(cif, "data_batch_1.bin"))
    rc, out, err = run(resnet, ["--data", cif, "--limit", "10", "--batch", "10"])
    check(rc == 1 and "data_batch_1.bin is a directory" in err, "CIFAR batch as a directory: exit %d %r" % (rc, err))
print("ok")
