"""Arrays in and out of C calls, with NumPy when it is installed.

Inputs: a NumPy array of the right dtype (float32, int32, int64, uint8,
float64 as the call needs) that is C-contiguous is passed to C by pointer,
without a copy. Any other array (another dtype, a strided view, a list) is
converted with ``np.ascontiguousarray(x, dtype)``, which copies. Without
NumPy, an ``array.array`` of the right type code (``'f'``, ``'i'``, ``'q'``,
``'B'``, ``'d'``), a ``bytearray`` (uint8) or any buffer of exactly the right
format is passed without a copy; nested lists or tuples are copied.
Integer elements a copy would wrap (2**32 into an int32 array, -1 into
uint8) raise :class:`~sparsetrain.InvalidError` naming the array and the
index (see ``_args``).

Outputs are NumPy arrays when NumPy is installed, else (nested) lists.
The environment variable ``SPT_PYTHON_NO_NUMPY=1`` makes the binding ignore
an installed NumPy (to test the other path).
"""
import array
import ctypes
import os

from . import _args

np = None
if not os.environ.get("SPT_PYTHON_NO_NUMPY"):  # set to test the path without NumPy
    try:  # NumPy is optional.
        import numpy as np
    except ImportError:
        np = None

HAVE_NUMPY = np is not None

# kind -> (ctypes type, numpy dtype name, array.array type codes, buffer formats)
_KINDS = {
    "f32": (ctypes.c_float, "float32", ("f",), ("f",)),
    "f64": (ctypes.c_double, "float64", ("d",), ("d",)),
    "i32": (ctypes.c_int32, "int32", ("i", "l"), ("i", "l")),
    "i64": (ctypes.c_int64, "int64", ("q", "l"), ("q", "l")),
    "u8": (ctypes.c_uint8, "uint8", ("B",), ("B",)),
}


class Buf:
    """A C view of an array: ``ptr`` (a ctypes pointer), ``size`` (elements),
    ``shape`` (tuple), ``copied`` (whether the caller's data was copied).
    Keeps the memory alive as long as the Buf lives."""

    __slots__ = ("ptr", "size", "shape", "copied", "_owner")

    def __init__(self, ptr, size, shape, copied, owner):
        self.ptr = ptr
        self.size = size
        self.shape = tuple(shape)
        self.copied = copied
        self._owner = owner


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _nested_shape(x):
    shape = []
    while isinstance(x, (list, tuple)):
        shape.append(len(x))
        if not x:
            break
        x = x[0]
    return shape


def _flatten(x, shape, depth, out):
    if depth == len(shape):
        out.append(x)
        return
    if not isinstance(x, (list, tuple)) or len(x) != shape[depth]:
        raise ValueError("ragged nested sequence: expected %d items at depth %d" % (shape[depth], depth))
    for item in x:
        _flatten(item, shape, depth + 1, out)


_INT_KINDS = ("i32", "i64", "u8")


def _check_integral(kind, dtype, name):
    if kind in _INT_KINDS and dtype.kind == "f":
        raise TypeError("%s: expected integers, got an array of %s" % (name, dtype))


def _check_range(src, kind, dtype, name):
    """Refuse elements of a NumPy array that converting it to ``dtype``
    would wrap (see _args): NumPy casts integer arrays by truncation."""
    if kind not in _INT_KINDS or src.dtype == dtype or src.size == 0:
        return
    if src.dtype.kind in "iu":
        if _args.fits(int(src.min()), kind) and _args.fits(int(src.max()), kind):
            return
        _args.check_ints(src.ravel().tolist(), kind, name)
    elif src.dtype.kind == "O":  # Python ints beyond int64, or mixed objects
        for i, v in enumerate(src.ravel().tolist()):
            if isinstance(v, float):
                raise TypeError("%s: expected integers, got floats" % name)
            _args.integer(v, "%s[%d]" % (name, i), kind)


def as_input(obj, kind, name="array"):
    """A :class:`Buf` over ``obj`` for reading by C (see the module comment)."""
    ctype, dtype, codes, formats = _KINDS[kind]
    if np is not None and not isinstance(obj, (array.array, bytearray, bytes)):
        src = obj if isinstance(obj, np.ndarray) else np.asarray(obj)
        if kind in _INT_KINDS and src.dtype.kind == "f" and src is not obj:
            src = np.asarray(obj, dtype=object)  # ints beyond int64 make NumPy pick float64: see the values
        _check_integral(kind, src.dtype, name)
        _check_range(src, kind, dtype, name)
        arr = np.ascontiguousarray(src, dtype=dtype)
        copied = arr is not obj
        return Buf(arr.ctypes.data_as(ctypes.POINTER(ctype)), arr.size, arr.shape, copied, arr)
    if isinstance(obj, (bytes, bytearray)) and kind == "u8":
        carr = (ctype * len(obj)).from_buffer_copy(obj) if isinstance(obj, bytes) else \
            (ctype * len(obj)).from_buffer(obj)
        return Buf(ctypes.cast(carr, ctypes.POINTER(ctype)), len(obj), (len(obj),), isinstance(obj, bytes), carr)
    if isinstance(obj, array.array) and obj.typecode in codes and obj.itemsize == ctypes.sizeof(ctype):
        if len(obj) == 0:
            carr = (ctype * 1)()
        else:
            carr = (ctype * len(obj)).from_buffer(obj)
        return Buf(ctypes.cast(carr, ctypes.POINTER(ctype)), len(obj), (len(obj),), False, (carr, obj))
    try:
        mv = memoryview(obj)
    except TypeError:
        mv = None
    if mv is not None and mv.format in formats and mv.itemsize == ctypes.sizeof(ctype) and \
            mv.c_contiguous and not mv.readonly and mv.nbytes > 0:
        carr = (ctype * (mv.nbytes // mv.itemsize)).from_buffer(mv)
        return Buf(ctypes.cast(carr, ctypes.POINTER(ctype)), len(carr), mv.shape, False, (carr, mv))
    seq = list(obj) if mv is not None else obj  # a buffer of another format: copy its items
    shape = _nested_shape(seq)
    if not shape and not isinstance(seq, (list, tuple)):
        raise TypeError("%s: expected an array or a sequence, got %s" % (name, type(obj).__name__))
    flat = []
    _flatten(seq, shape, 0, flat)
    if kind in _INT_KINDS:
        if any(isinstance(v, float) for v in flat):
            raise TypeError("%s: expected integers, got floats" % name)
        _args.check_ints(flat, kind, name)  # ctypes would wrap them
    carr = (ctype * max(len(flat), 1))(*flat)
    return Buf(ctypes.cast(carr, ctypes.POINTER(ctype)), len(flat), shape, True, carr)


def new_output(kind, shape):
    """A zeroed output :class:`Buf` of the given shape (NumPy array or ctypes array)."""
    ctype, dtype = _KINDS[kind][:2]
    shape = tuple(int(d) for d in shape)
    if np is not None:
        arr = np.zeros(shape, dtype=dtype)
        return Buf(arr.ctypes.data_as(ctypes.POINTER(ctype)), arr.size, shape, False, arr)
    n = _prod(shape)
    carr = (ctype * max(n, 1))()
    return Buf(ctypes.cast(carr, ctypes.POINTER(ctype)), n, shape, False, carr)


def _nest(flat, shape):
    if len(shape) <= 1:
        return list(flat)
    step = _prod(shape[1:])
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def result(buf):
    """The user-facing value of an output Buf: its NumPy array, or (nested) lists."""
    if np is not None:
        return buf._owner
    return _nest(buf._owner[:buf.size], buf.shape)
