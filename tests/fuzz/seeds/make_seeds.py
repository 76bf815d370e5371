#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (tests/fuzz/seeds/<target>/),
in each target's input layout (see the head of tests/fuzz/fuzz_<target>.c):

  idx/        [mode][L hi][L lo][labels file: L bytes][images file], plain and
              gzip, 5 images of 3 x 2 and of 28 x 28 (mode bit 7: MNIST shape)
  cifar10/    [mode][records of 3073 bytes], one and three records, limits
  checkpoint/ a small RigL MLP checkpoint of the current format, written with
              the Python binding when it can be imported (else left as is);
              tests/data/v1-mlp.ckpt is added by CMake

The model-file target is seeded from examples/models directly. The files
are committed; run this again only to change them:
    python3 tests/fuzz/seeds/make_seeds.py
"""
import gzip
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(sub, name, data):
    d = os.path.join(HERE, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx_pair(n, rows, cols, rnd):
    labels = struct.pack(">II", 0x801, n) + bytes(rnd.randrange(10) for _ in range(n))
    images = struct.pack(">IIII", 0x803, n, rows, cols) + bytes(rnd.randrange(256) for _ in range(n * rows * cols))
    return labels, images


def idx_input(mode, labels, images):
    return bytes([mode]) + struct.pack(">H", len(labels)) + labels + images


def gz(b):
    return gzip.compress(b, mtime=0)


def main():
    rnd = random.Random(19)
    lab, img = idx_pair(5, 3, 2, rnd)
    write("idx", "plain", idx_input(0, lab, img))
    write("idx", "gzip", idx_input(0, gz(lab), gz(img)))
    write("idx", "gzip-labels-limit-3", idx_input(3, gz(lab), img))
    lab, img = idx_pair(2, 28, 28, rnd)
    write("idx", "mnist-shape-gzip", idx_input(0x80, gz(lab), gz(img)))

    def record():
        return bytes([rnd.randrange(10)]) + bytes(rnd.randrange(256) for _ in range(3072))
    write("cifar10", "one-record", bytes([0]) + record())
    write("cifar10", "three-records-two-files-limit-4", bytes([1 | (4 << 2)]) + record() + record() + record())

    try:
        sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))
        import sparsetrain as spt
    except Exception as e:  # the binding needs the built library (SPT_LIBRARY)
        print("checkpoint seed not rewritten (%s)" % e)
        return
    import tempfile
    model = spt.Model.mlp([8, 24, 16, 3], seed=5)
    tr = spt.Trainer(model, spt.Optimizer("adam", lr=0.01), spt.LRSchedule("cosine", base=0.01, warmup_steps=2),
                     spt.MethodConfig("rigl", sparsity=0.8, delta_t=2), total_steps=10, seed=3)
    x = [[(i * 7 + j) % 5 * 0.25 for i in range(6)] for j in range(8)]  # feature-major: 8 x 6
    for _ in range(3):
        tr.step(x, [i % 3 for i in range(6)])
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "seed.ckpt")
        tr.save(p)
        with open(p, "rb") as f:
            write("checkpoint", "rigl-mlp-v2.ckpt", f.read())
    tr.close()


if __name__ == "__main__":
    main()
