"""Your own dynamic sparse training method: its drop and grow criteria as
Python callables (sparsetrain/user_method.h).

The library keeps everything else as its built-in dynamic methods do: the
initial topology, the schedule (an update every ``delta_t`` steps until
T_end, k = floor(f(t) * nnz) weights per layer), the exact top-k selection
with its seeded tie-break, the repattern and checkpoints. SET and RigL
written this way give the built-ins' masks bit for bit::

    import numpy as np
    rigl = spt.UserMethod("my-rigl", drop=lambda L: np.abs(L.values),
                          grow=lambda L: np.abs(L.dense_grad), grow_uses_gradient=True,
                          update="before_step")
    trainer = spt.Trainer(model, opt, sched, spt.MethodConfig(rigl, sparsity=0.9, delta_t=100), total_steps=T)

A callback gets one :class:`ScoreLayer` ``L`` describing one sparse layer as
it is before the update (its rows x cols matrix view and CSR pattern) and
either fills ``L.score`` in place or returns the scores (any sequence or
array of the right size, copied into ``L.score``):

- ``drop(L)``: nnz scores, one per active weight in CSR order; the k of
  smallest score leave (default, ``drop=None``: the library's |w|);
- ``grow(L)``: rows x cols scores; the k positions of largest |score|
  among those not kept join. ``L.dense_grad`` is the step's dense gradient
  when ``grow_uses_gradient=True``, else None. ``grow="random"`` (SET) and
  ``grow="gradient"`` (RigL's streamed |g|, no dense buffer) take no callable.

With NumPy the arrays are NumPy views of the library's memory, without a
copy: ``row_ptr`` int64 (rows + 1), ``col_idx`` int32 (nnz), ``values``
float32 (nnz), ``dense_grad`` float32 (rows, cols), all read-only, and
``score`` float32, writable, (nnz,) for drop and (rows, cols) for grow.
Without NumPy they are ctypes arrays over the same memory (indexable,
sliceable, ``len()``; ``dense_grad`` and the grow ``score`` flat, row-major,
rows * cols). Either way they are valid only during the call: copy what you
keep.

An exception raised by a callback (KeyboardInterrupt included) fails the
training step (the C status is SPT_ERR_CALLBACK) with the topology
unchanged, and is re-raised from the :meth:`Trainer.step` or
:meth:`Trainer.train_epoch` call that ran it, with the library's message as
a note (Python 3.11+). With ``update="before_step"`` the step changes
nothing; with ``"after_step"`` its optimizer step was already applied and
counts as done (as spt_trainer_step() documents).
Callbacks run on the thread that called the trainer, one layer at a time,
only on update steps and only for layers whose k is above 0; they must not
use the trainer.

The callables are kept alive by the :class:`UserMethod` and by every
:class:`MethodConfig` and :class:`Trainer` made from it; closing the
UserMethod frees only its C handle (configurations already made keep
working).
"""
import collections
import ctypes
import threading
import traceback

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle
from ._lib import DROP_SCORE_FN, GROW_SCORE_FN, UserMethodP, c_float, c_int32, c_int64, lib

#: spt_grow_kind values
GROW_RANDOM = 0
GROW_GRADIENT = 1
GROW_SCORE = 2
GROW_GRADIENT_SCORE = 3
#: spt_update_point values by name
UPDATES = {"after_step": 0, "before_step": 1}

#: What a drop or grow callback receives (see the module comment).
ScoreLayer = collections.namedtuple("ScoreLayer",
                                    "layer step rows cols nnz row_ptr col_idx values dense_grad seed score")

_CTYPES = {"f32": c_float, "i32": c_int32, "i64": c_int64}


def _view(ptr, kind, shape, writable=False):
    """A view of n C values at ptr: a NumPy array of `shape` (read-only
    unless writable), or a flat ctypes array. No copy."""
    n = B._prod(shape)
    if not ptr or n == 0:
        return B.np.zeros(shape, dtype=B._KINDS[kind][1]) if B.np is not None else (_CTYPES[kind] * 0)()
    if B.np is not None:
        arr = B.np.ctypeslib.as_array(ptr, shape=tuple(shape))
        if not writable:
            arr.flags.writeable = False
        return arr
    return ctypes.cast(ptr, ctypes.POINTER(_CTYPES[kind] * n)).contents


def _store(score, values, what):
    """Copy a callback's returned scores into its score array."""
    if B.np is not None:
        v = B.np.asarray(values, dtype=B.np.float32)
        if v.size != score.size:
            raise ValueError("%s callback returned %d scores for %d (shape %s)" % (what, v.size, score.size,
                                                                                score.shape))
        score[...] = v.reshape(score.shape)
        return
    v = list(values)
    if v and hasattr(v[0], "__len__"):
        v = [x for row in v for x in row]  # rows x cols nested: flatten one level
    if len(v) != len(score):
        raise ValueError("%s callback returned %d scores for %d" % (what, len(v), len(score)))
    score[:] = v


class _Pending(threading.local):
    """The exception a callback raised on this thread, until the trainer
    call that ran it takes it."""
    error = None


class UserMethod(Handle):
    """A dynamic sparse method defined by its criteria (see the module comment).

    ``UserMethod(name, drop=None, grow="random", grow_uses_gradient=False,
    update="after_step")``:

    - ``name``: 1 to 47 bytes, for messages and checkpoints;
    - ``drop``: None (|w|) or a callable ``drop(L) -> scores or None``;
    - ``grow``: "random", "gradient" or a callable ``grow(L) -> scores or None``;
    - ``grow_uses_gradient``: give a grow callable the dense gradient
      (``L.dense_grad``; costs a rows x cols buffer per layer on update steps);
    - ``update``: "after_step" (after the optimizer step, like SET) or
      "before_step" (after backward, instead of the optimizer step, which is
      skipped, like RigL).

    Built-in SET is ``UserMethod(n, grow="random", update="after_step")``;
    RigL is ``UserMethod(n, grow="gradient", update="before_step")``."""

    _destroy = lib.spt_user_method_destroy

    def __init__(self, name, drop=None, grow="random", grow_uses_gradient=False, update="after_step"):
        if drop is not None and not callable(drop):
            raise TypeError("drop must be None or a callable, not %s" % type(drop).__name__)
        if callable(grow):
            kind = GROW_GRADIENT_SCORE if grow_uses_gradient else GROW_SCORE
        elif grow in ("random", "gradient"):
            if grow_uses_gradient:
                raise ValueError("grow_uses_gradient=True needs a grow callable (grow=%r takes none)" % grow)
            kind = GROW_RANDOM if grow == "random" else GROW_GRADIENT
        else:
            raise ValueError("grow must be 'random', 'gradient' or a callable, not %r" % (grow,))
        if update not in UPDATES:
            raise ValueError("update must be one of %s, not %r" % (", ".join(UPDATES), update))
        if not isinstance(name, str):
            raise TypeError("name must be a str")
        out = UserMethodP()
        errors.check(lib.spt_user_method_create(_args.text(name, "name"), ctypes.byref(out)))
        super().__init__(out)
        self.name = name
        self.drop = drop
        self.grow = grow
        self.grow_uses_gradient = bool(grow_uses_gradient)
        self.update = update
        self._pending = _Pending()
        # The C function pointers: referenced here for as long as this object
        # lives, and by every MethodConfig and Trainer made from it.
        self._drop_fn = DROP_SCORE_FN(self._drop_trampoline(drop, name, self._pending)) if drop else DROP_SCORE_FN()
        self._grow_fn = GROW_SCORE_FN(self._grow_trampoline(grow, name, self._pending)) if callable(grow) \
            else GROW_SCORE_FN()
        try:
            errors.check(lib.spt_user_method_set_drop(out, self._drop_fn, None))
            errors.check(lib.spt_user_method_set_grow(out, kind, self._grow_fn, None))
            errors.check(lib.spt_user_method_set_update(out, UPDATES[update]))
        except BaseException:
            self.close()
            raise

    # The trampolines run inside C calls: they never let an exception escape
    # into C. They reference the callable and the pending slot, not self.
    @staticmethod
    def _drop_trampoline(fn, name, pending):
        def trampoline(user, layer, step, rows, cols, nnz, row_ptr, col_idx, values, seed, score):
            return UserMethod._call(fn, "drop", name, pending, lambda: ScoreLayer(
                layer, step, rows, cols, nnz, _view(row_ptr, "i64", (rows + 1,)), _view(col_idx, "i32", (nnz,)),
                _view(values, "f32", (nnz,)), None, seed, _view(score, "f32", (nnz,), writable=True)))
        return trampoline

    @staticmethod
    def _grow_trampoline(fn, name, pending):
        def trampoline(user, layer, step, rows, cols, nnz, row_ptr, col_idx, values, dense_grad, seed, score):
            return UserMethod._call(fn, "grow", name, pending, lambda: ScoreLayer(
                layer, step, rows, cols, nnz, _view(row_ptr, "i64", (rows + 1,)), _view(col_idx, "i32", (nnz,)),
                _view(values, "f32", (nnz,)), _view(dense_grad, "f32", (rows, cols)) if dense_grad else None, seed,
                _view(score, "f32", (rows, cols), writable=True)))
        return trampoline

    @staticmethod
    def _call(fn, what, name, pending, make_layer):
        """Run a criterion on the layer make_layer() describes; store what it
        returns; 0, or 1 with the exception kept for the trainer to re-raise."""
        L = None
        try:
            L = make_layer()
            ret = fn(L)
            if ret is not None:
                _store(L.score, ret, what)
            return 0
        except BaseException as e:  # noqa: B902 - re-raised by the trainer
            where = "at step %d, layer %d" % (L.step, L.layer) if L is not None else "while reading its arguments"
            pending.error = (e, "the %s callback of %r raised %s %s" % (what, name, type(e).__name__, where))
            return 1

    def config(self, densities=None, **knobs):
        """A :class:`MethodConfig` of this method with the given knobs
        (``sparsity``, ``delta_t``, ``alpha``, ...)."""
        from .method import MethodConfig
        return MethodConfig(self, densities=densities, **knobs)

    def _clear_error(self):
        self._pending.error = None

    def _raise_error(self, status):
        """After a failed C call (status != OK): re-raise the exception a
        callback raised during it, if any (else return)."""
        pending, self._pending.error = self._pending.error, None
        if pending is None or status == errors.OK:
            return
        exc, where = pending
        message = errors.last_error()
        # The callback's frames referenced views of memory the library has
        # since freed: drop their locals (the traceback still shows the lines).
        traceback.clear_frames(exc.__traceback__)
        if hasattr(exc, "add_note"):
            exc.add_note("%s (%s)" % (where, message) if message else where)
        raise exc

    def __repr__(self):
        grow = self.grow if isinstance(self.grow, str) else "callable" + (" with gradient"
                                                                           if self.grow_uses_gradient else "")
        return "<UserMethod %r drop=%s grow=%s update=%s>" % (self.name, "callable" if self.drop else "magnitude",
                                                              grow, self.update)
