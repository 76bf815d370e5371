"""Arguments the C types cannot hold raise, naming the argument, instead of
being wrapped by ctypes (2**40 threads is not 0 threads, seed -1 is not
2**64 - 1, label 2**32 is not label 0); Trainer needs total_steps."""
import math
import unittest

import sparsetrain as spt
from sparsetrain import errors

from _util import blobs

np = None
if spt.HAVE_NUMPY:
    import numpy as np


class TestIntegers(unittest.TestCase):
    def assertRefused(self, fn, name, cls=spt.InvalidError):
        """fn() raises cls with a message naming the argument, before any C call."""
        spt._clib.spt_clear_error()
        with self.assertRaises(cls) as cm:
            fn()
        self.assertIn(name, str(cm.exception))
        if cls is spt.InvalidError:
            self.assertEqual(cm.exception.status, errors.ERR_INVALID)
            self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual(spt.last_error(), "")  # refused by the binding: no C call failed
        return cm.exception

    def test_thread_count(self):
        n = spt.get_num_threads()
        for bad in (2 ** 40, 2 ** 31, -2 ** 31 - 1, 2 ** 32 + 1):  # ctypes: 0, -2**31, 2**31 - 1, 1
            e = self.assertRefused(lambda: spt.set_num_threads(bad), "n = %d" % bad)
            self.assertIn("int", str(e))
            self.assertEqual(spt.get_num_threads(), n)
        self.assertRefused(lambda: spt.set_num_threads(2.5), "n = 2.5 is not a whole number")
        self.assertRefused(lambda: spt.set_num_threads(float("nan")), "n = nan")
        self.assertRefused(lambda: spt.set_num_threads("2"), "n must be an integer", TypeError)
        with self.assertRaises(spt.InvalidError):  # representable: the library's own check
            spt.set_num_threads(1025)
        spt.set_num_threads(float(n))  # a whole float is a whole number
        self.assertEqual(spt.get_num_threads(), n)

    def test_seeds_are_unsigned(self):
        self.assertRefused(lambda: spt.Model.mlp([3, 2], seed=-1), "seed = -1")
        self.assertRefused(lambda: spt.Model.mlp([3, 2], seed=2 ** 64), "seed = %d" % 2 ** 64)
        self.assertEqual(spt.Model.mlp([3, 2], seed=2 ** 64 - 1).num_layers(), 1)
        xs, ys = blobs(8, 3, 2)
        ds = spt.Dataset.from_arrays(xs, ys)
        self.assertRefused(lambda: spt.Batcher(ds, 4, seed=-1), "seed")
        self.assertRefused(lambda: ds.split_random(2, seed=-5), "seed = -5")
        self.assertRefused(lambda: spt.topk([1.0, 2.0], 1, seed=-1), "seed")
        self.assertRefused(lambda: spt.CsrMatrix.random(4, 4, 0.5, seed=2 ** 70), "seed")
        self.assertRefused(lambda: spt.Net(3).build(seed=-1), "seed")
        m = spt.Model.mlp([3, 2])
        self.assertRefused(lambda: spt.Trainer(m, spt.Optimizer(), total_steps=5, seed=-1), "seed")
        b = spt.Batcher(ds, 4)
        self.assertRefused(lambda: setattr(b, "state", (0, 0, -1)), "seed")

    def test_sizes_counts_steps(self):
        xs, ys = blobs(8, 3, 2)
        ds = spt.Dataset.from_arrays(xs, ys)
        self.assertRefused(lambda: spt.Batcher(ds, 2 ** 64), "batch_size")  # ctypes: 0
        self.assertRefused(lambda: ds.subset(0, 2 ** 64 + 3), "count")  # ctypes: 3
        self.assertRefused(lambda: spt.Dataset.from_arrays(xs, ys, classes=2 ** 64 + 2), "classes")
        self.assertRefused(lambda: spt.Dataset.load_mnist(limit=2 ** 64), "limit")
        self.assertRefused(lambda: spt.Model.resnet((1, 8, 8), blocks_per_stage=2 ** 64 + 1), "blocks_per_stage")
        m = spt.Model.mlp([3, 4, 2])
        self.assertRefused(lambda: m.layer(2 ** 64), "layer index")  # ctypes: layer 0
        self.assertRefused(lambda: spt.LRSchedule("cosine", base=0.1, total_steps=10).at(2 ** 64), "step")
        self.assertRefused(lambda: spt.sparsity.drop_fraction(2 ** 64, 0.3, 100), "t = ")
        self.assertRefused(lambda: spt.sparsity.is_update_step(1, -2 ** 70, 10), "delta_t")
        self.assertRefused(lambda: spt.sparsity.gmp_is_prune_step(1, 0, 2 ** 63, 1), "n = ")
        self.assertRefused(lambda: spt.sparsity.lottery_sparsity(0.2, 2 ** 64), "rounds")
        self.assertRefused(lambda: spt.sparsity.allocate([(10, 2 ** 64 + 10)], 0.5), "shapes[0]")
        tr = spt.Trainer(m, spt.Optimizer(), total_steps=5)
        self.assertRefused(lambda: tr.evaluate(ds, batch=2 ** 64 + 8), "batch")
        net = spt.Net(4)
        net.relu()
        self.assertRefused(lambda: spt.Node(net, 2 ** 64), "node id")  # ctypes: node 0
        self.assertRefused(lambda: spt.Net((2 ** 64 + 1, 1, 1)), "input_shape[0]")
        # Whole floats and NumPy-like integers are accepted.
        self.assertEqual(len(spt.Batcher(ds, 4.0)), 2)
        self.assertEqual(m.layer(2.0).index, 2)
        self.assertRefused(lambda: m.layer(1.5), "layer index = 1.5")

    def test_enum_values(self):
        # An enum passed as an int: 2**32 would become 0 (SGD, the sparsity key...).
        self.assertRefused(lambda: spt.Optimizer(2 ** 32), "optimizer")
        self.assertRefused(lambda: spt.Optimizer("sgd").set(2 ** 32, 0.1), "parameter key")
        self.assertRefused(lambda: spt.LRSchedule(2 ** 32 + 2), "schedule")
        self.assertRefused(lambda: spt.MethodConfig(2 ** 32), "method")
        self.assertRefused(lambda: spt.MethodConfig("rigl").set(2 ** 32, 0.5), "parameter key")
        self.assertRefused(lambda: spt.method_name(2 ** 32), "method")
        self.assertRefused(lambda: spt.Dataset.load_mnist(split=2 ** 32), "split")
        self.assertRefused(lambda: spt.Net(3).layer(2 ** 32), "layer kind")
        self.assertEqual(spt.status_string(2 ** 32), "unknown status code")  # not "success"
        self.assertEqual(spt.status_string(-2 ** 40), "unknown status code")

    def test_array_elements(self):
        xs, ys = blobs(8, 3, 2)
        self.assertRefused(lambda: spt.Dataset.from_arrays(xs, [0] * 7 + [2 ** 32], classes=2), "labels[7]")
        m = spt.Model.mlp([3, 2])
        tr = spt.Trainer(m, spt.Optimizer(), total_steps=5)
        x = spt.to_feature_major(xs)
        self.assertRefused(lambda: tr.step(x, [2 ** 32] * 8), "labels[0]")  # ctypes: label 0, a valid one
        self.assertEqual(tr.steps_done, 0)
        self.assertRefused(lambda: spt.CsrMatrix(2, 2, [0, 1, 1], [2 ** 32], [1.0]), "col_idx[0]")
        self.assertRefused(lambda: spt.LRSchedule("step", milestones=[10, 2 ** 64]), "milestones[1]")
        self.assertRefused(lambda: spt.Model.mlp([3, 2 ** 64 + 2]), "widths[1]")
        self.assertRefused(lambda: spt.Dataset.from_arrays(xs, ys).gather([2 ** 64]), "indices[0]")
        with self.assertRaises(TypeError):
            spt.Dataset.from_arrays(xs, [0.5] * 8)  # floats are not labels

    @unittest.skipUnless(np is not None, "numpy is not installed (or SPT_PYTHON_NO_NUMPY is set)")
    def test_numpy_arrays_are_not_cast_silently(self):
        # NumPy casts int64 to int32 by truncation: 2**32 + 1 would be label 1.
        xs, ys = blobs(8, 3, 2)
        labels = np.array([0] * 7 + [2 ** 32 + 1], dtype=np.int64)
        self.assertRefused(lambda: spt.Dataset.from_arrays(xs, labels, classes=2), "labels[7]")
        self.assertRefused(lambda: spt.Model.mlp(np.array([3, 2 ** 63], dtype=np.uint64)), "widths[1]")
        images = np.zeros((8, 3), dtype=np.uint8)
        ds = spt.Dataset.from_arrays(images, np.arange(8, dtype=np.int16) % 2)  # a narrower int type is fine
        self.assertEqual(ds.classes, 2)
        self.assertEqual(len(spt.Batcher(ds, np.int64(4))), 2)
        self.assertRefused(lambda: spt.Batcher(ds, np.uint64(2 ** 64 - 1)), "batch_size")

    def test_strings_with_nul(self):
        # C reads a string up to its first NUL: "x\0y" would be "x".
        self.assertRefused(lambda: spt.Dataset.load_idx("images\0.gz", "labels"), "path")
        self.assertRefused(lambda: spt.MethodConfig("rigl\0anything"), "method")
        self.assertRefused(lambda: spt.Net(3).relu(name="a\0b"), "name")
        self.assertRefused(lambda: spt.UserMethod("mine\0"), "name")
        self.assertRefused(lambda: spt.checkpoint.load("run.ckpt\0.bak"), "path")


class TestReals(unittest.TestCase):
    def test_nan_refused_by_the_library(self):
        # Doubles go to C unchecked: every setter refuses NaN itself (the
        # premise of _args' "doubles need no check").
        nan = float("nan")
        for kind, keys in (("sgd", ("lr", "momentum", "nesterov", "weight_decay")),
                           ("adam", ("beta1", "beta2", "eps", "decoupled_weight_decay"))):
            o = spt.Optimizer(kind)
            for k in keys:
                with self.assertRaises(spt.InvalidError, msg=k):
                    o.set(k, nan)
        s = spt.LRSchedule("step")
        for k in ("base", "warmup_steps", "warmup_start_factor", "gamma", "floor_factor"):
            with self.assertRaises(spt.InvalidError, msg=k):
                s.set(k, nan)
        for method in spt.METHODS:
            cfg = spt.MethodConfig(method)
            for k in spt.method_params(method):
                with self.assertRaises(spt.InvalidError, msg="%s %s" % (method, k)):
                    cfg.set(k, nan)
        with self.assertRaises(spt.InvalidError):
            spt.Model.mlp([3, 4, 2]).set_dropout(nan)
        with self.assertRaises(spt.InvalidError):
            spt.sparsity.allocate([(10, 10)], nan)
        with self.assertRaises(spt.InvalidError):
            spt.Net(3).dropout(rate=nan)
        with self.assertRaises(spt.InvalidError):
            spt.CsrMatrix.random(4, 4, 0.5, std=1e300)  # inf as a C float


class TestTotalSteps(unittest.TestCase):
    def test_required(self):
        m = spt.Model.mlp([3, 2])
        with self.assertRaises(TypeError) as cm:
            spt.Trainer(m, spt.Optimizer())
        self.assertIn("total_steps", str(cm.exception))
        with self.assertRaises(spt.InvalidError):
            spt.Trainer(m, spt.Optimizer(), total_steps=0)  # the library's check: >= 1
        with self.assertRaises(spt.InvalidError):
            spt.Trainer(m, spt.Optimizer(), total_steps=math.inf)
        with self.assertRaises(spt.InvalidError):
            spt.Trainer(m, spt.Optimizer(), total_steps=2 ** 64 + 2)  # ctypes: 2
        tr = spt.Trainer(m, spt.Optimizer(), None, None, 2)  # positionally too
        xs, ys = blobs(4, 3, 2)
        x = spt.to_feature_major(xs)
        tr.step(x, ys)
        tr.step(x, ys)
        with self.assertRaises(spt.StateError):  # the run is over: a longer one is a new trainer
            tr.step(x, ys)
        self.assertEqual(tr.steps_done, 2)


if __name__ == "__main__":
    unittest.main()
