"""The training loop (sparsetrain/train.h)."""
import collections
import ctypes

from . import _args
from . import errors
from ._handle import Handle, locked, using
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

    ``Trainer(model, optimizer, schedule=None, method=None, total_steps=T,
    seed=0)``: ``total_steps`` is required: the run's length, >= 1 (e.g.
    ``epochs * len(batcher)``), against which the schedule and the method's
    timetable are resolved; once that many steps are done, :meth:`step`
    raises :class:`StateError` (a longer run is a new Trainer). The
    optimizer, schedule and method configuration are copied (later changes
    to them do not affect the trainer); methods that start sparse make the
    model's weights sparse here. One model takes at most one trainer.

    Threads: the trainer shares its model's lock (see ``_handle``), so a
    call on the model waits for a running training call and the other way
    round. Closing the model while the trainer lives only marks it closed
    (its C object is freed with the trainer, as C requires).

    A configuration of a :class:`UserMethod` makes the trainer keep that
    method's callables alive (``.user_method``); an exception one of them
    raises is re-raised from the :meth:`step` or :meth:`train_epoch` call
    that ran it."""

    _destroy = lib.spt_trainer_destroy

    def __init__(self, model, optimizer, schedule=None, method=None, total_steps=None, seed=0):
        if total_steps is None:
            raise TypeError("Trainer() needs total_steps: the run's length in steps, >= 1 (e.g. epochs * "
                            "len(batcher)); the schedule and the method's timetable are resolved against it")
        steps = _args.integer(total_steps, "total_steps")
        seed = _args.integer(seed, "seed", "u64")
        out = TrainerP()
        with using(model, optimizer, schedule, method):
            errors.check(lib.spt_trainer_create(model._p, optimizer._p, schedule._p if schedule is not None else None,
                                                method._p if method is not None else None, steps, seed,
                                                ctypes.byref(out)))
            super().__init__(out, borrows=(model,))
            self._features = model.features  # fixed for a model; read here, not while training
        self.model = model
        #: the UserMethod whose callables the trainer calls (None for a built-in method)
        self.user_method = getattr(method, "user_method", None)

    @classmethod
    def _wrap(cls, ptr, model, user_method=None):
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, borrows=(model,))
        self.model = model
        self.user_method = user_method
        self._features = model.features
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
    @locked
    def step(self, x, labels):
        """One step on a feature-major batch x (``C x H x W x N`` or ``F x N``;
        see :func:`sparsetrain.to_feature_major`). Returns (loss, correct)."""
        X = B.as_input(x, "f32", "x")
        n = batch_size_of(X, self._features)
        y = labels_for(labels, n)
        loss, correct = c_double(), c_int64()
        self._check(lib.spt_trainer_step(self._p, X.ptr, y.ptr, n, ctypes.byref(loss), ctypes.byref(correct)))
        return loss.value, correct.value

    def set_comm(self, comm):
        """Train data-parallel with the ranks of ``comm`` (:class:`Comm`;
        None detaches). Collective: every rank calls it with a trainer built
        alike; ranks whose models differ raise :class:`StateError`. The
        trainer keeps the communicator open while attached."""
        with using(self) if comm is None else using(self, comm):
            self._check(lib.spt_trainer_set_comm(self._p, None if comm is None else comm._p))
            old = getattr(self, "_comm", None)
            if old is not None and old is not comm:
                with old._group.lock:
                    old._pins -= 1
                    self._borrows = tuple(b for b in self._borrows if b is not old)
                    if old._closed and not old._active:
                        old._release()
            if comm is not None and old is not comm:
                with comm._group.lock:
                    comm._pins += 1
                self._borrows = self._borrows + (comm,)
            self._comm = comm

    @locked
    def set_sync_batchnorm(self, on=True):
        """Data-parallel training: batch norms normalise with the global
        batch's statistics (SyncBatchNorm) instead of each rank's own."""
        self._check(lib.spt_trainer_set_sync_batchnorm(self._p, 1 if on else 0))

    def train_epoch(self, batcher, progress=None):
        """Train over the rest of the batcher's epoch; returns (mean loss, accuracy).

        ``progress(Progress)`` is called after every step; returning True
        stops the epoch early. An exception raised inside it (KeyboardInterrupt
        included) stops the epoch after that batch and is re-raised here.
        The callback runs with the trainer's and the batcher's locks held: it
        must not use the trainer (closing it is allowed: it is freed when
        this call returns)."""
        with using(self, batcher):
            return self._train_epoch(batcher, progress)

    def _train_epoch(self, batcher, progress):
        ptr, bptr = self._p, batcher._p
        loss, acc = c_double(), c_double()
        if progress is None:
            self._check(lib.spt_trainer_train_epoch(ptr, bptr, PROGRESS_FN(), None, ctypes.byref(loss),
                                                    ctypes.byref(acc)))
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
        with using(self, batcher):
            errors.check(lib.spt_trainer_prepare(self._p, batcher._p))

    def evaluate(self, dataset, batch=256):
        """(mean loss, accuracy) over a whole dataset, evaluation mode."""
        batch = _args.integer(batch, "batch")
        loss, acc = c_double(), c_double()
        with using(self, reads=((dataset, False),)):
            errors.check(lib.spt_trainer_evaluate(self._p, dataset._p, batch, ctypes.byref(loss), ctypes.byref(acc)))
        return loss.value, acc.value

    @locked
    def end_round(self):
        """End a training round (lottery tickets: prune and rewind)."""
        errors.check(lib.spt_trainer_end_round(self._p))

    # ---- state
    @locked
    def _get(self, fn, ctype):
        v = ctype()
        errors.check(fn(self._p, ctypes.byref(v)))
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

    @locked
    def sparsity(self):
        """(sparsity, nnz, dense) over the method's weight layers."""
        s, z, d = c_double(), c_int64(), c_int64()
        errors.check(lib.spt_trainer_sparsity(self._p, ctypes.byref(s), ctypes.byref(z), ctypes.byref(d)))
        return s.value, z.value, d.value

    @locked
    def layer_densities(self):
        """:class:`LayerDensity` of every weight layer, in model order."""
        n = self._get(lib.spt_trainer_num_weight_layers, c_int64)
        out = []
        for i in range(n):
            name, z, size, d = c_char_p(), c_int64(), c_int64(), c_double()
            errors.check(lib.spt_trainer_layer_density(self._p, i, ctypes.byref(name), ctypes.byref(z),
                                                       ctypes.byref(size), ctypes.byref(d)))
            out.append(LayerDensity(i, name.value.decode(), z.value, size.value, d.value))
        return out

    @locked
    def flops(self):
        """:class:`Flops` per example: dense and sparse forward, training per step."""
        v = [c_double() for _ in range(4)]
        errors.check(lib.spt_trainer_flops(self._p, *[ctypes.byref(x) for x in v]))
        return Flops(*[x.value for x in v])

    @locked
    def times(self):
        """(seconds in steps, seconds of it in the method's per-step hooks), over the whole run."""
        a, b = c_double(), c_double()
        errors.check(lib.spt_trainer_times(self._p, ctypes.byref(a), ctypes.byref(b)))
        return a.value, b.value

    @locked
    def session_times(self):
        """This trainer object's (initialisation, steps, per-step hooks within the steps, end of rounds)
        in seconds; see spt_trainer_session_times."""
        v = [c_double() for _ in range(4)]
        errors.check(lib.spt_trainer_session_times(self._p, *[ctypes.byref(x) for x in v]))
        return tuple(x.value for x in v)

    @locked
    def update_times(self):
        """(seconds in the steps that changed the topology, their number, steps timed)."""
        a, u, n = c_double(), c_int64(), c_int64()
        errors.check(lib.spt_trainer_update_times(self._p, ctypes.byref(a), ctypes.byref(u), ctypes.byref(n)))
        return a.value, u.value, n.value

    @locked
    def last_update(self):
        """(whether the last step changed the topology, how many steps did)."""
        u, c = c_int(), c_int64()
        errors.check(lib.spt_trainer_last_update(self._p, ctypes.byref(u), ctypes.byref(c)))
        return bool(u.value), c.value

    def __repr__(self):
        return "<Trainer closed>" if self.closed else "<Trainer step %d>" % self.steps_done
