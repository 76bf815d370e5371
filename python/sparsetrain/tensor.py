"""CSR matrices (sparsetrain/tensor.h) and the kernels on them (ops.h)."""
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle, locked
from ._lib import CsrP, lib


class CsrMatrix(Handle):
    """A sparse rows x cols float32 matrix in compressed sparse row form.

    Build with ``CsrMatrix(rows, cols, row_ptr, col_idx, values)`` (arrays
    as in scipy.sparse.csr_matrix: row_ptr int64 of rows+1, col_idx int32 and
    values float32 of nnz, columns sorted within rows), :meth:`from_dense` or
    :meth:`random`. The arrays are copied into the library."""

    _destroy = lib.spt_csr_destroy

    def __init__(self, rows, cols, row_ptr, col_idx, values):
        rows, cols = _args.integer(rows, "rows"), _args.integer(cols, "cols")
        rp = B.as_input(row_ptr, "i64", "row_ptr")
        ci = B.as_input(col_idx, "i32", "col_idx")
        va = B.as_input(values, "f32", "values")
        if rp.size != rows + 1:
            raise errors.SizeError("row_ptr has %d entries, rows + 1 = %d needed" % (rp.size, rows + 1),
                                   errors.ERR_SIZE)
        if ci.size != va.size:
            raise errors.SizeError("col_idx (%d) and values (%d) differ in length" % (ci.size, va.size),
                                   errors.ERR_SIZE)
        out = CsrP()
        errors.check(lib.spt_csr_create(rows, cols, ci.size, rp.ptr, ci.ptr, va.ptr, ctypes.byref(out)))
        super().__init__(out)

    @classmethod
    def _wrap(cls, ptr):
        self = cls.__new__(cls)
        Handle.__init__(self, ptr)
        return self

    @classmethod
    def from_dense(cls, dense):
        """The entries != 0 of a 2-D array (rows x cols, row-major)."""
        d = B.as_input(dense, "f32", "dense")
        if len(d.shape) != 2:
            raise errors.SizeError("dense must be 2-D, got shape %s" % (d.shape,), errors.ERR_SIZE)
        out = CsrP()
        errors.check(lib.spt_csr_from_dense(d.shape[0], d.shape[1], d.ptr, ctypes.byref(out)))
        return cls._wrap(out)

    @classmethod
    def random(cls, rows, cols, density, std=1.0, seed=0):
        """round(density*rows*cols) nonzeros at uniform positions, values N(0, std^2)."""
        out = CsrP()
        errors.check(lib.spt_csr_random(_args.integer(rows, "rows"), _args.integer(cols, "cols"), float(density),
                                        float(std), _args.integer(seed, "seed", "u64"), ctypes.byref(out)))
        return cls._wrap(out)

    @property
    @locked
    def rows(self):
        return lib.spt_csr_rows(self._p)

    @property
    @locked
    def cols(self):
        return lib.spt_csr_cols(self._p)

    @property
    def shape(self):
        return (self.rows, self.cols)

    @property
    @locked
    def nnz(self):
        return lib.spt_csr_nnz(self._p)

    @property
    @locked
    def density(self):
        return lib.spt_csr_density(self._p)

    @locked
    def to_dense(self):
        """The matrix as a rows x cols array."""
        out = B.new_output("f32", self.shape)
        errors.check(lib.spt_csr_to_dense(self._p, out.ptr, out.size))
        return B.result(out)

    @locked
    def arrays(self):
        """Copies of (row_ptr int64, col_idx int32, values float32)."""
        rows, nnz = self.rows, self.nnz
        rp, ci, va = B.new_output("i64", (rows + 1,)), B.new_output("i32", (nnz,)), B.new_output("f32", (nnz,))
        errors.check(lib.spt_csr_copy_out(self._p, rp.ptr, rp.size, ci.ptr, va.ptr, nnz))
        return B.result(rp), B.result(ci), B.result(va)

    @locked
    def matmul(self, x, bias=None):
        """Y = W . X (+ bias): X is cols x N (feature-major), Y rows x N."""
        X = B.as_input(x, "f32", "x")
        rows, cols = self.shape
        n = _batch_of(X, cols, "x")
        b = None
        if bias is not None:
            b = B.as_input(bias, "f32", "bias")
            if b.size != rows:
                raise errors.SizeError("bias has %d entries, %d needed" % (b.size, rows), errors.ERR_SIZE)
        Y = B.new_output("f32", (rows, n))
        errors.check(lib.spt_csr_spmm(self._p, X.ptr, cols, n, b.ptr if b else None, Y.ptr, rows))
        return B.result(Y)

    @locked
    def matmul_t(self, dy):
        """dX = W^T . dY: dY is rows x N, dX cols x N."""
        D = B.as_input(dy, "f32", "dy")
        rows, cols = self.shape
        n = _batch_of(D, rows, "dy")
        X = B.new_output("f32", (cols, n))
        errors.check(lib.spt_csr_spmm_t(self._p, D.ptr, rows, n, X.ptr, cols, 0))
        return B.result(X)

    @locked
    def sddmm(self, dy, x):
        """(dY . X^T) at the nonzeros only, nnz values in CSR order."""
        rows, cols = self.shape
        D, X = B.as_input(dy, "f32", "dy"), B.as_input(x, "f32", "x")
        n = _batch_of(D, rows, "dy")
        if X.size != cols * n:
            raise errors.SizeError("x has %d values, %d x %d needed" % (X.size, cols, n), errors.ERR_SIZE)
        nnz = self.nnz
        G = B.new_output("f32", (nnz,))
        errors.check(lib.spt_csr_sddmm(self._p, D.ptr, rows, X.ptr, cols, n, G.ptr, nnz, 0))
        return B.result(G)

    def __repr__(self):
        if self.closed:
            return "<CsrMatrix closed>"
        return "<CsrMatrix %d x %d, nnz %d>" % (self.rows, self.cols, self.nnz)


def _batch_of(buf, features, name):
    if features < 1 or buf.size % features or buf.size == 0:
        raise errors.SizeError("%s has %d values: not a multiple of %d features" % (name, buf.size, features),
                               errors.ERR_SIZE)
    return buf.size // features


def _select(fn, score, k, seed):
    s = B.as_input(score, "f32", "score")
    k = _args.integer(k, "k")
    if not 0 <= k <= s.size:
        raise errors.SizeError("k = %d outside [0, %d]" % (k, s.size), errors.ERR_SIZE)
    seed = _args.integer(seed, "seed", "u64")
    out = B.new_output("i64", (k,))
    errors.check(fn(s.ptr, s.size, k, seed, out.ptr))
    return B.result(out)


def topk(score, k, seed=0):
    """Indices (increasing) of the k largest scores; ties broken by seed."""
    return _select(lib.spt_topk, score, k, seed)


def bottomk(score, k, seed=0):
    """Indices (increasing) of the k smallest scores; ties broken by seed."""
    return _select(lib.spt_bottomk, score, k, seed)
