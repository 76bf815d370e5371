"""Optimizers and learning-rate schedules (sparsetrain/optim.h)."""
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle, locked
from ._lib import OptimizerP, ScheduleP, c_double, c_int, c_int64, lib

OPTIMIZERS = {"sgd": 0, "adam": 1}
#: keyword -> SPT_OPT_* key
OPTIMIZER_PARAMS = {"lr": 0, "momentum": 1, "nesterov": 2, "weight_decay": 3, "beta1": 4, "beta2": 5, "eps": 6,
                    "decoupled_weight_decay": 7}
SCHEDULES = {"constant": 0, "step": 1, "cosine": 2}
#: keyword -> SPT_LR_* key
SCHEDULE_PARAMS = {"base": 0, "warmup_steps": 1, "warmup_start_factor": 2, "gamma": 3, "total_steps": 4,
                   "floor_factor": 5}


def _kind(kind, table, what):
    if isinstance(kind, str):
        if kind.lower() not in table:
            raise errors.InvalidError("unknown %s %r (known: %s)" % (what, kind, ", ".join(table)),
                                      errors.ERR_INVALID)
        return table[kind.lower()]
    return _args.integer(kind, what, "int")


def _key(key, table):
    if isinstance(key, str):
        if key not in table:
            raise errors.InvalidError("unknown parameter %r (known: %s)" % (key, ", ".join(table)),
                                      errors.ERR_INVALID)
        return table[key]
    return _args.integer(key, "parameter key", "int")


def _num(value):
    return (1.0 if value else 0.0) if isinstance(value, bool) else float(value)


class _Keyed(Handle):
    """Shared get/set by name of the optimizer and the schedule."""
    _set = _get = None
    _table = {}

    def _apply(self, knobs):
        try:
            for k, v in knobs.items():
                self.set(k, v)
        except BaseException:
            self.close()
            raise

    @locked
    def set(self, key, value):
        errors.check(type(self)._set(self._p, _key(key, self._table), _num(value)))

    @locked
    def get(self, key):
        v = c_double()
        errors.check(type(self)._get(self._p, _key(key, self._table), ctypes.byref(v)))
        return v.value

    __getitem__ = get
    __setitem__ = set


class Optimizer(_Keyed):
    """``Optimizer("sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)``
    or ``Optimizer("adam", lr=1e-3, ...)``. A trainer copies its settings."""

    _destroy = lib.spt_optimizer_destroy
    _set = lib.spt_optimizer_set_param
    _get = lib.spt_optimizer_get_param
    _table = OPTIMIZER_PARAMS

    def __init__(self, kind="sgd", **params):
        out = OptimizerP()
        errors.check(lib.spt_optimizer_create(_kind(kind, OPTIMIZERS, "optimizer"), ctypes.byref(out)))
        super().__init__(out)
        self._apply(params)

    @property
    @locked
    def kind(self):
        k = c_int()
        errors.check(lib.spt_optimizer_get_kind(self._p, ctypes.byref(k)))
        return {v: n for n, v in OPTIMIZERS.items()}.get(k.value, k.value)

    @property
    @locked
    def step(self):
        s = c_int64()
        errors.check(lib.spt_optimizer_get_step(self._p, ctypes.byref(s)))
        return s.value

    @locked
    def save_state(self):
        """The scalar state (kind, hyper-parameters, step) as bytes."""
        n = lib.spt_optimizer_state_bytes()
        buf = ctypes.create_string_buffer(n)
        written = c_int64()
        errors.check(lib.spt_optimizer_save_state(self._p, buf, n, ctypes.byref(written)))
        return buf.raw[:written.value]

    @locked
    def load_state(self, state):
        """Restore what :meth:`save_state` returned."""
        data = bytes(state)
        errors.check(lib.spt_optimizer_load_state(self._p, data, len(data)))

    def __repr__(self):
        return "<Optimizer closed>" if self.closed else "<Optimizer %s lr=%g>" % (self.kind, self.get("lr"))


class LRSchedule(_Keyed):
    """``LRSchedule("cosine", base=0.1, warmup_steps=500)`` (total_steps
    defaults to the trainer's run), ``LRSchedule("step", base=0.1, gamma=0.1,
    milestones=[30000, 60000])`` or ``LRSchedule("constant", base=0.01)``."""

    _destroy = lib.spt_lr_schedule_destroy
    _set = lib.spt_lr_schedule_set_param
    _get = lib.spt_lr_schedule_get_param
    _table = SCHEDULE_PARAMS

    def __init__(self, kind="cosine", milestones=None, **params):
        out = ScheduleP()
        errors.check(lib.spt_lr_schedule_create(_kind(kind, SCHEDULES, "schedule"), ctypes.byref(out)))
        super().__init__(out)
        self._apply(params)
        if milestones is not None:
            try:
                self.milestones = milestones
            except BaseException:
                self.close()
                raise

    @property
    @locked
    def kind(self):
        k = c_int()
        errors.check(lib.spt_lr_schedule_get_kind(self._p, ctypes.byref(k)))
        return {v: n for n, v in SCHEDULES.items()}.get(k.value, k.value)

    @property
    @locked
    def milestones(self):
        n = c_int64()
        errors.check(lib.spt_lr_schedule_get_milestones(self._p, None, 0, ctypes.byref(n)))
        out = B.new_output("i64", (n.value,))
        errors.check(lib.spt_lr_schedule_get_milestones(self._p, out.ptr, n.value, ctypes.byref(n)))
        return [int(v) for v in B.result(out)]

    @milestones.setter
    @locked
    def milestones(self, steps):
        s = B.as_input(list(steps), "i64", "milestones")
        errors.check(lib.spt_lr_schedule_set_milestones(self._p, s.ptr if s.size else None, s.size))

    @locked
    def at(self, step):
        """The learning rate at step ``step`` (from 0)."""
        lr = c_double()
        errors.check(lib.spt_lr_schedule_at(self._p, _args.integer(step, "step"), ctypes.byref(lr)))
        return lr.value

    def __repr__(self):
        return "<LRSchedule closed>" if self.closed else "<LRSchedule %s base=%g>" % (self.kind, self.get("base"))
