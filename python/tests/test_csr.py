"""CSR matrices and the kernels, with and without NumPy."""
import array
import random
import unittest

import sparsetrain as spt

np = None
if spt.HAVE_NUMPY:  # the binding uses NumPy: the tests may too
    import numpy as np


def dense_rows(rows, cols, density, seed):
    rng = random.Random(seed)
    return [[rng.gauss(0, 1) if rng.random() < density else 0.0 for _ in range(cols)] for _ in range(rows)]


class TestCsrLists(unittest.TestCase):
    """Round trips through plain Python sequences (NumPy or not)."""

    def test_from_dense_round_trip(self):
        d = dense_rows(5, 7, 0.4, 1)
        m = spt.CsrMatrix.from_dense(d)
        self.assertEqual(m.shape, (5, 7))
        self.assertEqual(m.nnz, sum(1 for r in d for v in r if v != 0.0))
        back = [[float(v) for v in row] for row in m.to_dense()]
        self.assertEqual(back, [[float(array.array("f", [v])[0]) for v in r] for r in d])
        rp, ci, va = m.arrays()
        m2 = spt.CsrMatrix(5, 7, rp, ci, va)
        self.assertEqual([list(map(float, r)) for r in m2.to_dense()], back)

    def test_array_array_inputs(self):
        rp = array.array("q", [0, 1, 3])
        ci = array.array("i", [2, 0, 1])
        va = array.array("f", [1.5, -2.0, 3.0])
        m = spt.CsrMatrix(2, 3, rp, ci, va)
        self.assertEqual([list(map(float, r)) for r in m.to_dense()], [[0, 0, 1.5], [-2.0, 3.0, 0]])

    def test_array_array_is_not_copied(self):
        from sparsetrain import _buffers
        a = array.array("f", [1.0, 2.0, 3.0])
        buf = _buffers.as_input(a, "f32")
        self.assertFalse(buf.copied)
        buf.ptr[1] = 5.0  # the pointer is a's memory
        self.assertEqual(a[1], 5.0)
        self.assertTrue(_buffers.as_input(array.array("d", [1.0]), "f32").copied)
        self.assertTrue(_buffers.as_input([1.0, 2.0], "f32").copied)

    def test_matmul(self):
        d = dense_rows(4, 3, 0.7, 2)
        m = spt.CsrMatrix.from_dense(d)
        x = [[1.0, 2.0], [0.5, -1.0], [-3.0, 0.25]]  # 3 x N, N = 2
        y = m.matmul(x, bias=[1.0, 0.0, 0.0, -1.0])
        f = lambda v: float(array.array("f", [v])[0])
        for r in range(4):
            for n in range(2):
                ref = sum(f(d[r][c]) * x[c][n] for c in range(3)) + [1.0, 0.0, 0.0, -1.0][r]
                self.assertAlmostEqual(float(y[r][n]), ref, places=5)
        with self.assertRaises(spt.SizeError):
            m.matmul([1.0, 2.0])  # not 3 x N

    def test_topk(self):
        s = [0.5, 3.0, -1.0, 2.0, 7.0]
        self.assertEqual(list(spt.topk(s, 2)), [1, 4])
        self.assertEqual(list(spt.bottomk(s, 2)), [0, 2])
        with self.assertRaises(spt.SizeError):
            spt.topk(s, 6)


@unittest.skipUnless(np is not None, "numpy is not installed (or SPT_PYTHON_NO_NUMPY is set)")
class TestCsrNumpy(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(3)
        d = rng.standard_normal((6, 9)).astype(np.float32)
        d[rng.random((6, 9)) < 0.6] = 0
        m = spt.CsrMatrix.from_dense(d)
        rp, ci, va = m.arrays()
        self.assertEqual((rp.dtype, ci.dtype, va.dtype), (np.int64, np.int32, np.float32))
        self.assertEqual(m.nnz, int(np.count_nonzero(d)))
        np.testing.assert_array_equal(m.to_dense(), d)
        # Rebuild from the arrays, and from the dense matrix by hand.
        m2 = spt.CsrMatrix(6, 9, rp, ci, va)
        np.testing.assert_array_equal(m2.to_dense(), d)
        rows, cols = np.nonzero(d)
        np.testing.assert_array_equal(ci, cols)
        np.testing.assert_array_equal(va, d[rows, cols])
        np.testing.assert_array_equal(rp, np.concatenate([[0], np.cumsum(np.count_nonzero(d, axis=1))]))

    def test_kernels_against_numpy(self):
        m = spt.CsrMatrix.random(20, 30, 0.2, std=1.0, seed=5)
        W = m.to_dense()
        rng = np.random.default_rng(1)
        X = rng.standard_normal((30, 8)).astype(np.float32)
        dY = rng.standard_normal((20, 8)).astype(np.float32)
        np.testing.assert_allclose(m.matmul(X), W @ X, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m.matmul_t(dY), W.T @ dY, rtol=1e-5, atol=1e-5)
        rp, ci, _ = m.arrays()
        rows = np.repeat(np.arange(20), np.diff(rp))
        np.testing.assert_allclose(m.sddmm(dY, X), (dY @ X.T)[rows, ci], rtol=1e-5, atol=1e-5)

    def test_inputs_converted_when_needed(self):
        d = np.arange(12, dtype=np.float64).reshape(3, 4)  # float64: copied to float32
        np.testing.assert_array_equal(spt.CsrMatrix.from_dense(d).to_dense(), d.astype(np.float32))
        big = np.arange(24, dtype=np.float32).reshape(4, 6)
        view = big[:, ::2]  # not contiguous: copied
        np.testing.assert_array_equal(spt.CsrMatrix.from_dense(view).to_dense(), view)

    def test_no_copy_for_matching_arrays(self):
        from sparsetrain import _buffers
        a = np.ones((3, 4), dtype=np.float32)
        buf = _buffers.as_input(a, "f32")
        self.assertFalse(buf.copied)
        self.assertEqual(ctypes_address(buf.ptr), a.ctypes.data)
        self.assertTrue(_buffers.as_input(a.astype(np.float64), "f32").copied)
        self.assertTrue(_buffers.as_input(a.T, "f32").copied)
        with self.assertRaises(TypeError):
            _buffers.as_input(np.ones(3), "i32")  # floats where ints are needed

    def test_model_weight_csr(self):
        model = spt.Model.mlp([10, 12, 4], seed=2)
        tr = spt.Trainer(model, spt.Optimizer(), method=spt.MethodConfig("static", sparsity=0.7,
                                                                         distribution="uniform"), total_steps=5)
        for L in model.weight_layers():
            rp, ci, va = model.weight_csr(L.index)
            self.assertEqual(len(va), L.nnz)
            self.assertLess(L.nnz, L.rows * L.cols)
            W = model.weight_dense(L.index)
            self.assertEqual(W.shape, (L.rows, L.cols))
            rebuilt = spt.CsrMatrix(L.rows, L.cols, rp, ci, va).to_dense()
            np.testing.assert_array_equal(rebuilt, W)
        with self.assertRaises(spt.InvalidError):
            model.weight_csr(1)  # relu
        tr.close()


def ctypes_address(ptr):
    import ctypes
    return ctypes.cast(ptr, ctypes.c_void_p).value


if __name__ == "__main__":
    unittest.main()
