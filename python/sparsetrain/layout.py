"""Converting between example-major arrays and the library's layout.

Python users hold batches example-major, ``N x C x H x W`` (or ``N x F``);
every model and trainer call reads feature-major with the batch contiguous,
``C x H x W x N`` (or ``F x N``). Both helpers copy (one pass, in C).
"""
from . import _args
from . import _buffers as B
from . import errors
from ._lib import lib


def _dims(shape, batch_first):
    if len(shape) < 2 or len(shape) > 4:
        raise errors.SizeError("expected 2 to 4 dimensions, got shape %s" % (shape,), errors.ERR_SIZE)
    shape = tuple(_args.integer(d, "shape[%d]" % i) for i, d in enumerate(shape))
    rest = shape[1:] if batch_first else shape[:-1]
    n = shape[0] if batch_first else shape[-1]
    chw = tuple(rest) + (1,) * (3 - len(rest))
    return n, chw, tuple(rest)


def to_feature_major(x, shape=None):
    """``N x ...`` (example-major) to ``... x N`` (the library's layout).

    ``shape`` is the array's shape when it is flat (lists or array.array
    without NumPy). Returns float32 (a NumPy array, or nested lists)."""
    src = B.as_input(x, "f32", "x")
    n, (c, h, w), rest = _dims(tuple(shape) if shape is not None else src.shape, True)
    if n * c * h * w != src.size:
        raise errors.SizeError("x holds %d values, not %d x %d x %d x %d" % (src.size, n, c, h, w), errors.ERR_SIZE)
    dst = B.new_output("f32", rest + (n,))
    errors.check(lib.spt_layout_nchw_to_chwn(src.ptr, n, c, h, w, dst.ptr))
    return B.result(dst)


def to_example_major(x, shape=None):
    """``... x N`` (the library's layout, e.g. logits K x N) to ``N x ...``."""
    src = B.as_input(x, "f32", "x")
    n, (c, h, w), rest = _dims(tuple(shape) if shape is not None else src.shape, False)
    if n * c * h * w != src.size:
        raise errors.SizeError("x holds %d values, not %d x %d x %d x %d" % (src.size, c, h, w, n), errors.ERR_SIZE)
    dst = B.new_output("f32", (n,) + rest)
    errors.check(lib.spt_layout_chwn_to_nchw(src.ptr, n, c, h, w, dst.ptr))
    return B.result(dst)
