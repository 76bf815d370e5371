#!/usr/bin/env python3
"""RigL written as your own method, trained next to the built-in RigL on
Fashion-MNIST: masks and weights must agree at every step, bit for bit.

    SPT_LIBRARY=build/libsparsetrain.so PYTHONPATH=python \\
        python3 python/examples/user_method.py --steps 200

Exit status 0 when every step matched, 1 on a mismatch, 2 without the data.
Works with NumPy (the callbacks get NumPy views) or without (ctypes arrays).
"""
import argparse
import sys

import sparsetrain as spt

np = None
if spt.HAVE_NUMPY:
    import numpy as np


def drop(L):
    """One score per active weight (L.nnz, CSR order); the k smallest leave: |w|."""
    return np.abs(L.values) if np is not None else [abs(w) for w in L.values]


def grow(L):
    """One score per position (L.rows x L.cols); the k largest |score| among
    those not kept join: |dL/dW| of this mini-batch."""
    return np.abs(L.dense_grad) if np is not None else [abs(g) for g in L.dense_grad]


# RigL: drop |w|, grow |dense gradient|, update after backward instead of the optimizer step.
MY_RIGL = spt.UserMethod("my-rigl", drop=drop, grow=grow, grow_uses_gradient=True, update="before_step")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=spt.FASHION_MNIST_DIR, help="directory of the IDX files (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--limit", type=int, default=10000, help="training examples to load (0: all)")
    args = ap.parse_args(argv)
    try:
        train = spt.Dataset.load_mnist(args.data, "train", args.limit)
        test = spt.Dataset.load_mnist(args.data, "test")
    except spt.FileIOError as e:
        print("cannot read Fashion-MNIST: %s" % e, file=sys.stderr)
        return 2
    test.set_normalization(*train.normalize())

    def trainer(method):  # the same MLP, optimizer and knobs; only the method differs
        model = spt.Model.mlp([train.features, 300, 100, train.classes], seed=1)
        return spt.Trainer(model, spt.Optimizer("sgd", lr=0.1, momentum=0.9), None,
                           spt.MethodConfig(method, sparsity=0.9, delta_t=20, seed=1), total_steps=args.steps, seed=1)

    builtin, mine = trainer("rigl"), trainer(MY_RIGL)
    batcher = spt.Batcher(train, 64, drop_last=True, seed=1)
    for step in range(args.steps):
        x, y = batcher.next() or batcher.next()  # None at the end of an epoch: the next one starts
        builtin.step(x, y)
        mine.step(x, y)
        for layer in builtin.model.weight_layers():  # row_ptr, col_idx, values
            a, b = builtin.model.weight_csr(layer.index), mine.model.weight_csr(layer.index)
            if any(bytes(p) != bytes(q) if np is not None else p != q for p, q in zip(a, b)):
                print("step %d: the masks or weights of %s differ" % (step, layer.name))
                return 1
    for name, t in (("rigl", builtin), ("my-rigl", mine)):
        print("%-8s topology updates %3d  test accuracy %.4f" % (name, t.last_update()[1], t.evaluate(test)[1]))
    print("OK: my-rigl's masks equal rigl's at every step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
