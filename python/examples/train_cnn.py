#!/usr/bin/env python3
"""Describe a small residual CNN with sparsetrain.Net and train it with RigL
on Fashion-MNIST, printing the accuracy per epoch.

    SPT_LIBRARY=build/libsparsetrain.so PYTHONPATH=python \\
        python3 python/examples/train_cnn.py --epochs 2 --limit 10000

Fashion-MNIST is read from Debian's dataset-fashion-mnist location by
default (--data to change it). The same network in C is
examples/train_custom.c.
"""
import argparse
import sys

import sparsetrain as spt


def small_cnn(input_shape, classes, width=16):
    """conv-bn-relu, max pooling, one residual block (stride 2, projection
    shortcut), global average pooling, linear."""
    net = spt.Net(input_shape)                                  # 1 x 28 x 28
    net.conv2d(out=width, kernel=3, padding=1, name="conv1",    # width x 28 x 28
               density=1)                                       # the first layer stays dense (9 weights per filter)
    net.batchnorm(name="bn1")
    net.relu(name="relu1")
    x = net.maxpool(kernel=2, name="pool1")                     # width x 14 x 14, the block's input
    net.conv2d(out=2 * width, stride=2, padding=1, name="block.conv1")  # 2w x 7 x 7
    net.batchnorm(name="block.bn1")
    net.relu(name="block.relu1")
    net.conv2d(out=2 * width, padding=1, name="block.conv2")   # 2w x 7 x 7
    net.batchnorm(name="block.bn2")
    with net.branch(x) as shortcut:                             # from the block's input again:
        net.conv2d(out=2 * width, kernel=1, stride=2, name="block.shortcut")  # 2w x 7 x 7
        net.batchnorm(name="block.shortcut.bn")
    net.add(shortcut.output, name="block.add")                  # main path + shortcut
    net.relu(name="block.relu2")
    net.global_avgpool(name="gap")                              # 2w x 1 x 1
    net.linear(out=classes, name="fc")                          # the logits
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=spt.FASHION_MNIST_DIR, help="directory of the IDX files (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=10000, help="use only the first N training examples (0: all)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=16, help="channels of the first convolution")
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--summary", action="store_true", help="print the network's description first")
    args = ap.parse_args(argv)

    try:
        train = spt.Dataset.load_mnist(args.data, "train", args.limit)
        test = spt.Dataset.load_mnist(args.data, "test")
    except spt.FileIOError as e:
        print("cannot read Fashion-MNIST: %s" % e, file=sys.stderr)
        return 2
    mean, std = train.normalize()
    test.set_normalization(mean, std)

    net = small_cnn(train.shape, train.classes, args.width)
    if args.summary:
        print(net.summary())
    model = net.build(seed=args.seed)
    batcher = spt.Batcher(train, args.batch, seed=args.seed)
    trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=args.lr, momentum=0.9, weight_decay=1e-4),
                          spt.LRSchedule("cosine", base=args.lr),
                          spt.MethodConfig("rigl", sparsity=args.sparsity, distribution="erk", delta_t=50),
                          total_steps=args.epochs * len(batcher), seed=args.seed)
    dense, _ = model.num_params()
    print("CNN: %d nodes, %d parameters; RigL at sparsity %.2f, %d steps"
          % (len(net), dense, args.sparsity, args.epochs * len(batcher)), flush=True)

    for epoch in range(1, args.epochs + 1):
        loss, acc = trainer.train_epoch(batcher)
        _, test_acc = trainer.evaluate(test)
        print("epoch %d  train loss %.4f  train acc %.4f  test acc %.4f  sparsity %.3f"
              % (epoch, loss, acc, test_acc, trainer.sparsity()[0]), flush=True)
    for layer in trainer.layer_densities():
        print("  %-24s %6d / %6d  density %.3f" % (layer.name, layer.nnz, layer.size, layer.density))
    return 0


if __name__ == "__main__":
    sys.exit(main())
