"""Your own networks: the Net builder, Model.from_net / Model.net, training,
errors, per-layer density and checkpoints of a described network."""
import os
import random
import struct
import tempfile
import unittest

import sparsetrain as spt

from _util import blobs, flat


def as_bytes(values):
    """The float32 bytes of a (nested) result, NumPy array or list."""
    if spt.HAVE_NUMPY:
        import numpy as np
        return np.ascontiguousarray(values, dtype=np.float32).tobytes()
    out = []
    stack = [values]
    while stack:  # flatten depth-first, in order
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        else:
            out.append(v)
    return struct.pack("%df" % len(out), *out)


def mlp_net(widths):
    """Model.mlp's layers (fc1 relu1 drop1 ... fcL) with the builder."""
    net = spt.Net(widths[0])
    for i, w in enumerate(widths[1:], 1):
        net.linear(out=w, name="fc%d" % i)
        if i < len(widths) - 1:
            net.relu(name="relu%d" % i)
            net.dropout(name="drop%d" % i)
    return net


def residual_cnn(c=2, classes=3, stem_density=None):
    """conv-bn-relu, one residual block with a projection shortcut (stride
    2), global average pooling, linear."""
    net = spt.Net((c, 8, 8))
    extra = {} if stem_density is None else {"density": stem_density}
    net.conv2d(out=8, kernel=3, padding=1, name="stem", **extra)       # 8 x 8 x 8
    net.batchnorm(name="stem.bn")
    x = net.relu(name="stem.relu")
    net.conv2d(out=16, stride=2, padding=1, name="b.conv1")            # 16 x 4 x 4
    net.batchnorm(name="b.bn1")
    net.relu(name="b.relu1")
    net.conv2d(out=16, padding=1, name="b.conv2")
    net.batchnorm(name="b.bn2")
    with net.branch(x) as shortcut:
        net.conv2d(out=16, kernel=1, stride=2, name="b.short")          # 16 x 4 x 4
        net.batchnorm(name="b.short.bn")
    net.add(shortcut.output, name="b.add")
    net.relu(name="b.relu2")
    net.global_avgpool(name="pool")                                    # 16 x 1 x 1
    net.linear(out=classes, name="fc")
    return net


def image_blobs(n, c, classes, seed):
    """n images c x 8 x 8 (example-major, flat) around class centres."""
    xs, ys = blobs(n, c * 64, classes, seed=seed, spread=0.8)
    return flat(xs), ys


def run_steps(trainer, batcher, k):
    """k steps on the batcher's batches, across epochs; the losses."""
    losses = []
    while len(losses) < k:
        batch = batcher.next()
        if batch is not None:  # None: the end of an epoch (the next call starts the next one)
            losses.append(trainer.step(*batch)[0])
    return losses


class TestBuilder(unittest.TestCase):
    def test_metadata_from_library(self):
        self.assertIn("conv2d", spt.net.KINDS)
        self.assertEqual(spt.net.KINDS.index("linear"), 0)
        for kind in spt.net.KINDS:
            self.assertTrue(callable(getattr(spt.Net, kind)))
        self.assertEqual(spt.layer_params("conv2d")["kernel"], 3)
        self.assertEqual(spt.layer_params("maxpool")["stride"], 2)
        self.assertEqual(list(spt.layer_params("relu")), [])
        self.assertIn("input", spt.layer_params("add"))
        self.assertIn("kernel=3", spt.Net.conv2d.__doc__)

    def test_mlp_matches_builtin(self):
        widths = [20, 16, 12, 5]
        ref = spt.Model.mlp(widths, seed=3)
        model = mlp_net(widths).build(seed=3)
        self.assertEqual([(L.name, L.kind, L.rows, L.cols) for L in model.layers()],
                         [(L.name, L.kind, L.rows, L.cols) for L in ref.layers()])
        self.assertEqual(model.num_params(), ref.num_params())
        for L in ref.weight_layers():
            self.assertEqual(as_bytes(model.weight_dense(L.index)), as_bytes(ref.weight_dense(L.index)))
        xs, _ = blobs(7, 20, 5, seed=1)
        x = spt.to_feature_major(xs)
        self.assertEqual(as_bytes(model.forward(x)), as_bytes(ref.forward(x)))
        # Model.from_net is net.build
        self.assertEqual(as_bytes(spt.Model.from_net(mlp_net(widths), seed=3).forward(x)), as_bytes(ref.forward(x)))

    def test_describe_and_inspect(self):
        net = residual_cnn()
        self.assertEqual(len(net), 14)
        self.assertEqual(net.input.id, -1)
        self.assertEqual(net["stem"].id, 0)
        self.assertEqual(net["stem"].input, net.input)
        self.assertEqual(net["b.short"].input, net["stem.relu"])
        add = net["b.add"]
        self.assertEqual(add.kind, "add")
        self.assertEqual(add.input, net["b.bn2"])  # the tip, restored after the branch
        self.assertEqual(add.params["input"], net["b.short.bn"].id)
        self.assertEqual(net[-1].name, "fc")
        self.assertEqual(net.tip, net[-1])
        self.assertEqual(net["b.conv1"].params["stride"], 2)
        self.assertEqual(net["b.conv1"]["out"], 16)
        self.assertIn("b.add", net.summary())
        model = net.build(seed=2)
        self.assertEqual(model.input_shape, (2, 8, 8))
        self.assertEqual(model.classes, 3)
        self.assertEqual([L.name for L in model.layers()], [n.name for n in net])

        back = model.net()
        self.assertEqual(back.input_shape, (2, 8, 8))
        self.assertEqual([(n.id, n.kind, n.name, n.input.id, n.params) for n in back],
                         [(n.id, n.kind, n.name, n.input.id, n.params) for n in net])
        self.assertEqual(back.summary(), net.summary())
        # the description given back builds the same model
        rng = random.Random(5)
        batch = spt.to_feature_major([[[[rng.gauss(0, 1) for _ in range(8)] for _ in range(8)] for _ in range(2)]
                                      for _ in range(3)])  # 3 x 2 x 8 x 8 -> 2 x 8 x 8 x 3
        self.assertEqual(as_bytes(back.build(seed=2).forward(batch)), as_bytes(model.forward(batch)))
        # the built-in MLP is a description too
        mlp = spt.Model.mlp([4, 6, 2], seed=1).net()
        self.assertEqual([(n.kind, n.name) for n in mlp],
                         [("linear", "fc1"), ("relu", "relu1"), ("dropout", "drop1"), ("linear", "fc2")])
        self.assertEqual(mlp["fc2"].params["out"], 2)

    def test_positional_tip_and_default_names(self):
        net = spt.Net((3, 6, 6))
        a = net.conv2d(4, 3, 1, 1)  # out, kernel, stride, padding: the library's key order
        self.assertEqual(a.params["padding"], 1)
        self.assertEqual(a.name, "conv2d0")
        p = net.layer("maxpool")
        self.assertEqual((p.kind, p.params["kernel"]), ("maxpool", 2))
        net.tip = a
        b = net.relu()
        self.assertEqual(b.input, a)
        net.tip = None
        self.assertEqual(net.flatten().input, net.input)
        with net.branch(net.input) as br:
            pass
        self.assertEqual(br.output, net.input)
        self.assertEqual(net.add(net.input, name="x").params["input"], -1)

    def test_errors(self):
        net = spt.Net(8)
        net.linear(out=4)
        with self.assertRaises(spt.InvalidError) as cm:
            net.linear(outs=4)  # unknown keyword
        self.assertIn("outs", str(cm.exception))
        with self.assertRaises(spt.InvalidError):
            net.relu(out=4)  # a keyword the kind does not read
        with self.assertRaises(spt.InvalidError):
            net.conv2d(out=4, stride=0)  # bad value
        with self.assertRaises(spt.InvalidError):
            net.dropout(rate=1.5)
        with self.assertRaises(spt.InvalidError):
            net.conv2d(out=2.5)  # not whole
        with self.assertRaises(spt.InvalidError):
            net.linear(out="ten")
        with self.assertRaises(spt.InvalidError):
            net.linear(4, out=4)  # twice
        with self.assertRaises(spt.InvalidError):
            net.layer("transformer")
        with self.assertRaises(spt.InvalidError):
            net.relu(name="bad name!")
        with self.assertRaises(spt.InvalidError):
            net.add(spt.Net(8).linear(out=2))  # a node of another network
        self.assertEqual(len(net), 1)  # a failed call adds nothing
        self.assertEqual(net.tip, net[0])
        with self.assertRaises(spt.SizeError):
            spt.Net((1, 0, 3))
        with self.assertRaises(spt.SizeError):
            net.tip = net[0].__class__(net, 5)
        with self.assertRaises(IndexError):
            net[3]

        unset = spt.Net(8)
        unset.linear(name="fc")  # out unset: found when built
        with self.assertRaises(spt.InvalidError) as cm:
            unset.build()
        self.assertIn("fc", str(cm.exception))
        self.assertIn("out", str(cm.exception))
        no_input = spt.Net(8)
        no_input.linear(out=8)
        no_input.add(name="sum")  # input unset
        with self.assertRaises(spt.InvalidError) as cm:
            no_input.build()
        self.assertIn("sum", str(cm.exception))

        shapes = spt.Net((1, 4, 4))
        x = shapes.conv2d(out=2, padding=1)
        shapes.conv2d(out=3, padding=1)
        shapes.add(x)  # 3 x 4 x 4 + 2 x 4 x 4
        with self.assertRaises(spt.SizeError):
            shapes.build()
        with self.assertRaises(spt.SizeError):
            spt.Net(4).build()  # no layers
        closed = spt.Net(3)
        closed.close()
        with self.assertRaises(spt.ClosedError):
            closed.linear(out=2)


class TestTrainNet(unittest.TestCase):
    def make(self, stem_density=None, sparsity=0.7, seed=1, steps=40):
        xs, ys = image_blobs(96, 2, 3, seed=seed)
        ds = spt.Dataset.from_arrays(xs, ys, shape=(96, 2, 8, 8))
        batcher = spt.Batcher(ds, 16, seed=seed)
        model = residual_cnn(stem_density=stem_density).build(seed=seed)
        trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05, momentum=0.9),
                              spt.LRSchedule("constant", base=0.05),
                              spt.MethodConfig("rigl", sparsity=sparsity, delta_t=4, distribution="uniform"),
                              total_steps=steps, seed=seed)
        return ds, batcher, model, trainer

    def test_residual_cnn_learns_with_rigl(self):
        ds, batcher, model, tr = self.make()
        losses = run_steps(tr, batcher, 40)
        self.assertLess(sum(losses[-6:]) / 6, 0.7 * sum(losses[:6]) / 6)
        self.assertGreater(tr.last_update()[1], 0)  # RigL changed the topology
        sparsity, _, _ = tr.sparsity()
        self.assertAlmostEqual(sparsity, 0.7, delta=0.05)
        _, acc = tr.evaluate(ds)
        self.assertGreater(acc, 0.6)

    def test_density_one_keeps_a_layer_dense(self):
        _, batcher, model, tr = self.make(stem_density=1)
        run_steps(tr, batcher, 12)
        dens = {L.name: L for L in tr.layer_densities()}
        self.assertEqual(dens["stem.weight"].nnz, dens["stem.weight"].size)
        self.assertEqual(dens["stem.weight"].density, 1.0)
        for name in ("b.conv1", "b.conv2", "b.short", "fc"):
            self.assertLess(dens[name + ".weight"].density, 1.0)
        self.assertAlmostEqual(tr.sparsity()[0], 0.7, delta=0.05)  # still the method's overall target
        self.assertEqual(model.net()["stem"].params["density"], 1)
        # the same network without the pin makes the stem sparse too
        _, _, _, tr2 = self.make()
        self.assertLess({L.name: L for L in tr2.layer_densities()}["stem.weight"].density, 1.0)

    def test_weights_list_is_the_trainers_allocation(self):
        net = residual_cnn(stem_density=1)
        shapes, dens = net.weights()
        self.assertEqual(len(shapes), 5)  # stem, b.conv1, b.conv2, b.short, fc
        self.assertEqual(dens[0], 1)
        self.assertTrue(all(d == 0 for d in dens[1:]))
        self.assertEqual(len(shapes[-1]), 2)
        _, nnz, _ = spt.sparsity.allocate_epsilon(shapes, 3, "erk", keep_dense=[d == 1 for d in dens])
        model = net.build(seed=1)
        tr = spt.Trainer(model, spt.Optimizer("sgd", lr=0.05), spt.LRSchedule("constant", base=0.05),
                         spt.MethodConfig("set", epsilon=3, distribution="erk"), total_steps=4, seed=1)
        self.assertEqual([L.nnz for L in tr.layer_densities()], [int(v) for v in nnz])
        tr.close()
        model.close()

    @unittest.skipUnless(spt.checkpoint.available(), "the library has no checkpoint functions")
    def test_checkpoint_resumes_exactly(self):
        ds, batcher, model, tr = self.make(stem_density=1)
        run_steps(tr, batcher, 5)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "net.ckpt")
            tr.save(path, batcher)
            expect = run_steps(tr, batcher, 9)
            b2 = spt.Batcher(ds, 16, seed=77)
            tr2 = spt.checkpoint.load(path, b2)
        self.assertEqual(tr2.steps_done, 5)
        self.assertEqual(tr2.model.net().summary(), model.net().summary())
        self.assertEqual(run_steps(tr2, b2, 9), expect)
        for L in model.weight_layers():
            self.assertEqual(as_bytes(model.weight_csr(L.index)[2]), as_bytes(tr2.model.weight_csr(L.index)[2]))
        self.assertEqual(tr2.layer_densities(), tr.layer_densities())


if __name__ == "__main__":
    unittest.main()
