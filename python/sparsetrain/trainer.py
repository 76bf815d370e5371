"""The training loop (sparsetrain/train.h)."""
import collections
import ctypes

from . import errors
from ._handle import Handle
from ._lib import PROGRESS_FN, TrainerP, c_char_p, c_double, c_int, c_int64, lib
from .model import batch_size_of, labels_for
from . import _buffers as B

#: Passed to the progress callback after every step of train_epoch().
Progress = collections.namedtuple("Progress", "step batch_index batches loss accuracy")
#: Density of one weight layer.
LayerDensity = collections.namedtuple("LayerDensity", "index name nnz size density")
#: FLOPs per example (conventions of sparsetrain/sparsity.h).
Flops = collections.namedtuple("Flops", "forward_dense forward_sparse train train_measured")


class Trainer(Handle):
    """A training run over one model; keeps the model alive.

    ``Trainer(model, optimizer, schedule=None, method=None, total_steps=...,
    seed=0)``: the optimizer, schedule and method configuration are copied
    (later changes to them do not affect the trainer); methods that start
    sparse make the model's weights sparse here. One model takes at most one
    trainer; do not use the model elsewhere while the trainer runs.

    A configuration of a :class:`UserMethod` makes the trainer keep that
    method's callables alive (``.user_method``); an exception one of them
    raises is re-raised from the :meth:`step` or :meth:`train_epoch` call
    that ran it."""

    _destroy = lib.spt_trainer_destroy

    def __init__(self, model, optimizer, schedule=None, method=None, total_steps=1, seed=0):
        out = TrainerP()
        errors.check(lib.spt_trainer_create(model.ptr, optimizer.ptr, schedule.ptr if schedule is not None else None,
                                            method.ptr if method is not None else None, int(total_steps), int(seed),
                                            ctypes.byref(out)))
        super().__init__(out, borrows=(model,))
        self.model = model
        #: the UserMethod whose callables the trainer calls (None for a built-in method)
        self.user_method = getattr(method, "user_method", None)

    @classmethod
    def _wrap(cls, ptr, model, user_method=None):
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, borrows=(model,))
        self.model = model
        self.user_method = user_method
        return self

    @staticmethod
    def load(path, batcher=None, user_method=None):
        """A Trainer resumed from a checkpoint (see :func:`sparsetrain.checkpoint.load`)."""
        from . import checkpoint
        return checkpoint.load(path, batcher, user_method)

    def _check(self, status):
        """errors.check(status), re-raising first an exception raised by a
        callback of the user method during the call."""
        if self.user_method is not None:
            self.user_method._raise_error(status)
        errors.check(status)

    def save(self, path, batcher=None):
        """Save the run to a checkpoint (see :func:`sparsetrain.checkpoint.save`)."""
        from . import checkpoint
        checkpoint.save(self, path, batcher)

    # ---- training
    def step(self, x, labels):
        """One step on a feature-major batch x (``C x H x W x N`` or ``F x N``;
        see :func:`sparsetrain.to_feature_major`). Returns (loss, correct)."""
        X = B.as_input(x, "f32", "x")
        n = batch_size_of(X, self.model.features)
        y = labels_for(labels, n)
        loss, correct = c_double(), c_int64()
        self._check(lib.spt_trainer_step(self.ptr, X.ptr, y.ptr, n, ctypes.byref(loss), ctypes.byref(correct)))
        return loss.value, correct.value

    def train_epoch(self, batcher, progress=None):
        """Train over the rest of the batcher's epoch; returns (mean loss, accuracy).

        ``progress(Progress)`` is called after every step; returning True
        stops the epoch early. An exception raised inside it (KeyboardInterrupt
        included) stops the epoch after that batch and is re-raised here."""
        ptr, bptr = self.ptr, batcher.ptr
        loss, acc = c_double(), c_double()
        if progress is None:
            self._check(lib.spt_trainer_train_epoch(ptr, bptr, PROGRESS_FN(), None, ctypes.byref(loss), ctypes.byref(acc)))
            return loss.value, acc.value
        caught = []

        def trampoline(user, step, batch_index, batches, batch_loss, batch_acc):
            # Runs inside the C call: never let an exception escape into C.
            try:
                return 1 if progress(Progress(step, batch_index, batches, batch_loss, batch_acc)) else 0
            except BaseException as e:  # noqa: B902 - stored and re-raised below
                caught.append(e)
                return 1

        fn = PROGRESS_FN(trampoline)  # referenced by `fn` until the call returns
        rc = lib.spt_trainer_train_epoch(ptr, bptr, fn, None, ctypes.byref(loss), ctypes.byref(acc))
        del fn
        if caught:
            raise caught[0]
        self._check(rc)
        return loss.value, acc.value

    def prepare(self, batcher):
        """Score-based methods (SNIP, GraSP, SynFlow): initialise from batches
        of ``batcher`` (its position is restored). Nothing for other methods."""
        errors.check(lib.spt_trainer_prepare(self.ptr, batcher.ptr))

    def evaluate(self, dataset, batch=256):
        """(mean loss, accuracy) over a whole dataset, evaluation mode."""
        loss, acc = c_double(), c_double()
        errors.check(lib.spt_trainer_evaluate(self.ptr, dataset.ptr, int(batch), ctypes.byref(loss),
                                              ctypes.byref(acc)))
        return loss.value, acc.value

    def end_round(self):
        """End a training round (lottery tickets: prune and rewind)."""
        errors.check(lib.spt_trainer_end_round(self.ptr))

    # ---- state
    def _get(self, fn, ctype):
        v = ctype()
        errors.check(fn(self.ptr, ctypes.byref(v)))
        return v.value

    @property
    def steps_done(self):
        """Steps completed in the run (all rounds)."""
        return self._get(lib.spt_trainer_get_step, c_int64)

    @property
    def round(self):
        return self._get(lib.spt_trainer_get_round, c_int64)

    @property
    def lr(self):
        """Learning rate of the next step."""
        return self._get(lib.spt_trainer_get_lr, c_double)

    def sparsity(self):
        """(sparsity, nnz, dense) over the method's weight layers."""
        s, z, d = c_double(), c_int64(), c_int64()
        errors.check(lib.spt_trainer_sparsity(self.ptr, ctypes.byref(s), ctypes.byref(z), ctypes.byref(d)))
        return s.value, z.value, d.value

    def layer_densities(self):
        """:class:`LayerDensity` of every weight layer, in model order."""
        n = self._get(lib.spt_trainer_num_weight_layers, c_int64)
        out = []
        for i in range(n):
            name, z, size, d = c_char_p(), c_int64(), c_int64(), c_double()
            errors.check(lib.spt_trainer_layer_density(self.ptr, i, ctypes.byref(name), ctypes.byref(z),
                                                       ctypes.byref(size), ctypes.byref(d)))
            out.append(LayerDensity(i, name.value.decode(), z.value, size.value, d.value))
        return out

    def flops(self):
        """:class:`Flops` per example: dense and sparse forward, training per step."""
        v = [c_double() for _ in range(4)]
        errors.check(lib.spt_trainer_flops(self.ptr, *[ctypes.byref(x) for x in v]))
        return Flops(*[x.value for x in v])

    def times(self):
        """(seconds in steps, seconds of it in the method's per-step hooks), over the whole run."""
        a, b = c_double(), c_double()
        errors.check(lib.spt_trainer_times(self.ptr, ctypes.byref(a), ctypes.byref(b)))
        return a.value, b.value

    def session_times(self):
        """This trainer object's (initialisation, steps, per-step hooks within the steps, end of rounds)
        in seconds; see spt_trainer_session_times."""
        v = [c_double() for _ in range(4)]
        errors.check(lib.spt_trainer_session_times(self.ptr, *[ctypes.byref(x) for x in v]))
        return tuple(x.value for x in v)

    def update_times(self):
        """(seconds in the steps that changed the topology, their number, steps timed)."""
        a, u, n = c_double(), c_int64(), c_int64()
        errors.check(lib.spt_trainer_update_times(self.ptr, ctypes.byref(a), ctypes.byref(u), ctypes.byref(n)))
        return a.value, u.value, n.value

    def last_update(self):
        """(whether the last step changed the topology, how many steps did)."""
        u, c = c_int(), c_int64()
        errors.check(lib.spt_trainer_last_update(self.ptr, ctypes.byref(u), ctypes.byref(c)))
        return bool(u.value), c.value

    def __repr__(self):
        return "<Trainer closed>" if self.closed else "<Trainer step %d>" % self.steps_done
