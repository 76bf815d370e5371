"""Checking Python numbers before ctypes converts them to C.

ctypes converts a Python int to a C integer by truncation, silently:
``c_int(2**40)`` is 0, ``c_uint64(-1)`` is 2**64 - 1, and an ``int32``
array element 2**32 becomes 0, a valid label. Every wrapper therefore passes
the integers it hands to C through :func:`integer` (scalars) or
:func:`check_ints` (array elements, called by ``_buffers.as_input``), which
raise instead:

- :class:`TypeError` for a value that is not a number (a string, None);
- :class:`~sparsetrain.InvalidError` (a ``ValueError``), naming the
  argument, for a value the C type cannot hold (out of range, negative where
  C takes an unsigned value) or a float that is not a whole number (NaN,
  infinity, 2.5). Whole floats (``1e4``, NumPy floats) are accepted.

Strings go through :func:`text`: C reads them up to the first NUL byte, so
``"run.ckpt\\0x"`` would silently be ``run.ckpt``; a NUL raises
:class:`~sparsetrain.InvalidError` instead (as ``open()`` refuses one).

Only representability is checked here; the domain of each argument (a
batch size >= 1, a thread count <= SPT_MAX_THREADS) stays the library's to
check, with its own status and message. Doubles need no check: every C
function taking one refuses NaN and infinity where it needs a finite value.
"""
import ctypes
import math
import operator
import os

from . import errors


def _signed(ctype):
    bits = 8 * ctypes.sizeof(ctype)
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _unsigned(ctype):
    return 0, (1 << (8 * ctypes.sizeof(ctype))) - 1


#: kind -> (C type name, smallest, largest): the C integer types the binding passes ints to
RANGES = {
    "int": ("int",) + _signed(ctypes.c_int),
    "i32": ("int32_t",) + _signed(ctypes.c_int32),
    "i64": ("int64_t",) + _signed(ctypes.c_int64),
    "u64": ("uint64_t",) + _unsigned(ctypes.c_uint64),
    "u8": ("uint8_t",) + _unsigned(ctypes.c_uint8),
}


def fits(value, kind):
    """Whether the int ``value`` fits the C type ``kind`` (a key of :data:`RANGES`)."""
    _, lo, hi = RANGES[kind]
    return lo <= value <= hi


def _out_of_range(name, value, kind):
    ctype, lo, hi = RANGES[kind]
    return errors.InvalidError("%s = %d does not fit the library's %s (%d .. %d)" % (name, value, ctype, lo, hi),
                               errors.ERR_INVALID)


def integer(value, name, kind="i64"):
    """``value`` as a Python int for a C parameter of type ``kind`` (a key of
    :data:`RANGES`); ``name`` names the argument in the error (see the module
    comment for what is refused)."""
    try:
        v = operator.index(value)  # int, bool, NumPy integers
    except TypeError:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
            raise TypeError("%s must be an integer, not %s" % (name, type(value).__name__)) from None
        f = float(value)
        if not math.isfinite(f) or f != math.floor(f):
            raise errors.InvalidError("%s = %r is not a whole number" % (name, value), errors.ERR_INVALID) from None
        v = int(f)
    if not fits(v, kind):
        raise _out_of_range(name, v, kind)
    return v


def check_ints(values, kind, name):
    """Raise :func:`integer`'s InvalidError for the first element of the
    sequence of ints ``values`` the C type ``kind`` cannot hold."""
    if not values:
        return
    _, lo, hi = RANGES[kind]
    if lo <= min(values) and max(values) <= hi:
        return
    for i, v in enumerate(values):
        if not lo <= v <= hi:
            raise _out_of_range("%s[%d]" % (name, i), v, kind)


def text(value, name, path=False):
    """``value`` (str, or bytes; also os.PathLike when ``path``) as the bytes
    of a C string, refusing an embedded NUL (see the module comment)."""
    if path:
        b = os.fsencode(value)
    elif isinstance(value, bytes):
        b = value
    elif isinstance(value, str):
        b = value.encode()
    else:
        raise TypeError("%s must be a str, not %s" % (name, type(value).__name__))
    if b"\0" in b:
        raise errors.InvalidError("%s %r contains a NUL byte" % (name, value), errors.ERR_INVALID)
    return b
