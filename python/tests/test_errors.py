"""Misuse raises Python exceptions, never crashes."""
import ctypes
import os
import tempfile
import unittest

import sparsetrain as spt
from sparsetrain._lib import lib

from _util import blobs


class TestErrors(unittest.TestCase):
    def test_bad_density(self):
        with self.assertRaises(spt.InvalidError) as cm:
            spt.MethodConfig("rigl", sparsity=1.5)
        self.assertEqual(cm.exception.status, 2)
        self.assertIn("spt_method_config_set", cm.exception.message)
        with self.assertRaises(spt.InvalidError):
            spt.CsrMatrix.random(4, 4, density=0.0)
        with self.assertRaises(spt.InvalidError):
            spt.CsrMatrix.random(4, 4, density=float("nan"))
        with self.assertRaises(spt.InvalidError):
            spt.sparsity.allocate([(10, 10)], 1.0)

    def test_unknown_names(self):
        with self.assertRaises(spt.InvalidError):
            spt.MethodConfig("no-such-method")
        with self.assertRaises(spt.InvalidError):
            spt.MethodConfig("rigl", no_such_knob=1)
        with self.assertRaises(spt.InvalidError):
            spt.MethodConfig("rigl", distribution="gaussian")
        with self.assertRaises(spt.InvalidError):
            spt.Optimizer("sgd", beta1=0.9)  # an Adam key
        with self.assertRaises(spt.InvalidError):
            spt.Optimizer("rmsprop")

    def test_missing_file_names_it(self):
        missing = os.path.join(tempfile.gettempdir(), "spt-no-such-dir", "images.idx3-ubyte")
        with self.assertRaises(spt.FileIOError) as cm:
            spt.Dataset.load_idx(missing, missing + ".labels")
        self.assertIsInstance(cm.exception, OSError)
        self.assertEqual(cm.exception.status, 5)
        self.assertIn(missing, str(cm.exception))
        with self.assertRaises(spt.FileIOError) as cm:
            spt.Dataset.load_mnist(os.path.dirname(missing))
        self.assertIn("spt-no-such-dir", str(cm.exception))

    def test_closed_handle_raises_before_c(self):
        m = spt.Model.mlp([3, 2])
        m.close()
        m.close()  # idempotent
        self.assertTrue(m.closed)
        lib.spt_clear_error()
        with self.assertRaises(spt.ClosedError) as cm:
            m.forward([[1.0], [2.0], [3.0]])
        self.assertIsInstance(cm.exception, spt.StateError)
        with self.assertRaises(spt.ClosedError):
            m.layers()
        with self.assertRaises(spt.ClosedError):
            spt.Trainer(m, spt.Optimizer(), total_steps=10)
        # No C call failed: the library's message is still empty.
        self.assertEqual(spt.last_error(), "")

    def test_context_manager(self):
        with spt.Optimizer("adam", lr=1e-3) as opt:
            self.assertAlmostEqual(opt.get("lr"), 1e-3)
        self.assertTrue(opt.closed)
        with self.assertRaises(spt.ClosedError):
            opt.get("lr")

    def test_wrong_handle_type(self):
        m = spt.Model.mlp([3, 2])
        with self.assertRaises(ctypes.ArgumentError):
            lib.spt_dataset_destroy(m.ptr)
        with self.assertRaises(AttributeError):
            spt.Batcher(object(), 4)

    def test_batch_size_checked_before_c(self):
        m = spt.Model.mlp([3, 2])
        with self.assertRaises(spt.SizeError):
            m.forward([1.0, 2.0])  # not 3 x N
        with self.assertRaises(spt.SizeError):
            m.evaluate([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], [0])  # 2 examples, 1 label
        with self.assertRaises(spt.SizeError):
            spt.CsrMatrix(2, 2, [0, 1], [0], [1.0])  # row_ptr too short
        with self.assertRaises(spt.FormatError):
            spt.CsrMatrix(2, 2, [0, 1, 1], [5], [1.0])  # column out of range

    def test_bad_labels(self):
        xs, ys = blobs(8, 3, 2)
        ds = spt.Dataset.from_arrays(xs, ys)
        self.assertEqual(ds.classes, 2)
        with self.assertRaises(spt.InvalidError):
            spt.Dataset.from_arrays(xs, [5] * 8, classes=2)
        with self.assertRaises(TypeError):
            spt.Dataset.from_arrays(xs, [0.5] * 8, classes=2)
        m = spt.Model.mlp([3, 2])
        tr = spt.Trainer(m, spt.Optimizer(), total_steps=10)
        x = spt.to_feature_major(xs)
        with self.assertRaises(spt.InvalidError):
            tr.step(x, [7] * 8)
        self.assertEqual(tr.steps_done, 0)

    def test_nonfinite_input(self):
        m = spt.Model.mlp([2, 2])
        tr = spt.Trainer(m, spt.Optimizer(), total_steps=10)
        with self.assertRaises(spt.NonFiniteError) as cm:
            tr.step([[float("nan")], [0.0]], [0])
        self.assertIsInstance(cm.exception, ArithmeticError)
        self.assertEqual(tr.steps_done, 0)

    def test_owner_outlives_borrower(self):
        xs, ys = blobs(10, 2, 2)
        ds = spt.Dataset.from_arrays(xs, ys)
        b = spt.Batcher(ds, 4, shuffle=False)
        ds.close()  # marked closed; freed only with the batcher
        with self.assertRaises(spt.ClosedError):
            len(ds)
        x, y = b.next()  # the batcher still reads the C dataset
        self.assertEqual(len(y), 4)
        b.close()
        self.assertIsNone(ds._ptr)

    def test_borrower_keeps_owner_alive(self):
        xs, ys = blobs(10, 2, 2)
        b = spt.Batcher(spt.Dataset.from_arrays(xs, ys), 5, shuffle=False)
        import gc
        gc.collect()
        self.assertEqual(len(b), 2)
        self.assertEqual(sum(len(y) for _, y in b), 10)


if __name__ == "__main__":
    unittest.main()
