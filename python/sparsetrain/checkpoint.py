"""Checkpoints: save a training run to one file and resume it exactly
(sparsetrain/checkpoint.h)."""
import ctypes

from . import _args
from . import errors
from ._handle import using
from ._lib import ModelP, TrainerP, has, lib
from .model import Model
from .trainer import Trainer


def available():
    """Whether the loaded library has checkpoints."""
    return has("spt_trainer_save") and has("spt_trainer_load")


def _require():
    if not available():
        raise errors.UnsupportedError("this libsparsetrain has no checkpoint functions", errors.ERR_UNSUPPORTED)


def save(trainer, path, batcher=None):
    """Write the run (and the batcher's position, if given) to ``path``
    atomically: a failure leaves an existing file unchanged."""
    _require()
    with using(trainer, batcher):
        errors.check(lib.spt_trainer_save(trainer._p, batcher._p if batcher is not None else None,
                                          _args.text(path, "path", path=True)))


def load(path, batcher=None, user_method=None):
    """A new Trainer (with a new Model, ``trainer.model``) in the saved state.
    A batcher over the same data is moved to the saved position.

    A run of a :class:`UserMethod` needs that method again (a file cannot
    hold its callables): ``user_method``, of the saved name; the trainer
    keeps it alive."""
    _require()
    m, t = ModelP(), TrainerP()
    cpath = _args.text(path, "path", path=True)
    with using(batcher, user_method):
        bptr = batcher._p if batcher is not None else None
        if user_method is not None:
            errors.check(lib.spt_trainer_load_user(cpath, user_method._p, ctypes.byref(m), ctypes.byref(t), bptr))
        else:
            errors.check(lib.spt_trainer_load(cpath, ctypes.byref(m), ctypes.byref(t), bptr))
    model = Model(m)
    return Trainer._wrap(t, model, user_method)
