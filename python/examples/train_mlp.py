#!/usr/bin/env python3
"""Train an MLP with RigL on Fashion-MNIST and print the accuracy per epoch.

    SPT_LIBRARY=build/libsparsetrain.so PYTHONPATH=python \\
        python3 python/examples/train_mlp.py --epochs 3 --limit 10000

Fashion-MNIST is read from Debian's dataset-fashion-mnist location by
default (--data to change it).
"""
import argparse
import sys

import sparsetrain as spt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=spt.FASHION_MNIST_DIR, help="directory of the IDX files (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training examples (0: all)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--method", default="rigl", choices=spt.METHODS)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    try:
        train = spt.Dataset.load_mnist(args.data, "train", args.limit)
        test = spt.Dataset.load_mnist(args.data, "test")
    except spt.FileIOError as e:
        print("cannot read Fashion-MNIST: %s" % e, file=sys.stderr)
        return 2
    mean, std = train.normalize()
    test.set_normalization(mean, std)

    model = spt.Model.mlp([train.features, 300, 100, train.classes], seed=args.seed)
    batcher = spt.Batcher(train, args.batch, seed=args.seed)
    trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=args.lr, momentum=0.9, weight_decay=1e-4),
                          spt.LRSchedule("cosine", base=args.lr),
                          spt.MethodConfig(args.method, sparsity=args.sparsity, distribution="erk"),
                          total_steps=args.epochs * len(batcher), seed=args.seed)

    for epoch in range(1, args.epochs + 1):
        loss, acc = trainer.train_epoch(batcher)
        _, test_acc = trainer.evaluate(test)
        sparsity = trainer.sparsity()[0]
        print("epoch %d  train loss %.4f  train acc %.4f  test acc %.4f  sparsity %.3f"
              % (epoch, loss, acc, test_acc, sparsity), flush=True)
    flops = trainer.flops()
    print("forward FLOPs/example: %.3g dense, %.3g sparse" % (flops.forward_dense, flops.forward_sparse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
