"""Choosing a sparse-training method and its knobs (sparsetrain/method.h)."""
import ctypes

from . import _buffers as B
from . import errors
from ._handle import Handle
from ._lib import MethodConfigP, c_double, c_int, c_int64, lib
from .user_method import UserMethod

METHODS = ("dense", "static", "set", "snfs", "rigl", "gmp", "lottery", "snip", "grasp", "synflow")

#: keyword -> SPT_MP_* key
PARAMS = {
    "sparsity": 0,
    "distribution": 1,
    "dense_first": 2,
    "dense_last": 3,
    "delta_t": 4,
    "alpha": 5,
    "t_end": 6,
    "t_end_fraction": 7,
    "drop_schedule": 8,
    "snfs_momentum": 9,
    "prune_start": 10,
    "prune_end": 11,
    "prune_freq": 12,
    "initial_sparsity": 13,
    "global_pruning": 14,
    "lottery_rounds": 15,
    "lottery_rate": 16,
    "rewind_step": 17,
    "score_batches": 18,
    "synflow_iters": 19,
    "seed": 20,
    "sparse_init": 21,
}

#: spt_distribution values by name
DISTRIBUTIONS = {"uniform": 0, "erdos_renyi": 1, "er": 1, "erk": 2}
#: spt_drop_schedule values by name
DROP_SCHEDULES = {"cosine": 0, "linear": 1, "constant": 2}
_NAMED = {"distribution": DISTRIBUTIONS, "drop_schedule": DROP_SCHEDULES}


def method_id(method):
    """The spt_method value of a name ("rigl") or an int."""
    if isinstance(method, str):
        m = c_int()
        errors.check(lib.spt_method_from_name(method.lower().encode(), ctypes.byref(m)))
        return m.value
    return int(method)


def method_name(method):
    """The name of an spt_method value (None for an unknown value)."""
    s = lib.spt_method_name(int(method))
    return s.decode() if s else None


def _value(key, value):
    table = _NAMED.get(key)
    if table is not None and isinstance(value, str):
        if value.lower() not in table:
            raise errors.InvalidError("%s %r is not one of %s" % (key, value, ", ".join(sorted(table))),
                                      errors.ERR_INVALID)
        return float(table[value.lower()])
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return float(value)


class MethodConfig(Handle):
    """A method and its knobs, e.g. ``MethodConfig("rigl", sparsity=0.9,
    distribution="erk", delta_t=100, alpha=0.3)``.

    Keywords are the SPT_MP_* keys in lower case (see :data:`PARAMS`;
    ``global_pruning`` is SPT_MP_GLOBAL); distribution and drop_schedule
    also take names; ``densities=[...]`` gives explicit per-layer densities.
    Every value is checked by the library when set.

    ``method`` may also be a :class:`UserMethod` (``MethodConfig(my_method,
    sparsity=0.9)``, or ``my_method.config(sparsity=0.9)``): its keys start
    at the defaults of the dynamic methods, and the configuration (and every
    trainer made from it) keeps the method's callables alive
    (``.user_method``)."""

    _destroy = lib.spt_method_config_destroy

    def __init__(self, method="rigl", densities=None, **knobs):
        out = MethodConfigP()
        #: the UserMethod this configuration calls back (None for a built-in method)
        self.user_method = method if isinstance(method, UserMethod) else None
        if self.user_method is not None:
            errors.check(lib.spt_method_config_create_user(method.ptr, ctypes.byref(out)))
        else:
            errors.check(lib.spt_method_config_create(method_id(method), ctypes.byref(out)))
        super().__init__(out)
        try:
            for key, value in knobs.items():
                self.set(key, value)
            if densities is not None:
                self.set_densities(densities)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _key(key):
        if isinstance(key, str):
            if key not in PARAMS:
                raise errors.InvalidError("unknown method parameter %r (known: %s)" % (key, ", ".join(PARAMS)),
                                          errors.ERR_INVALID)
            return key, PARAMS[key]
        return str(key), int(key)

    def set(self, key, value):
        """Set one knob by name (or SPT_MP_* number)."""
        name, k = self._key(key)
        errors.check(lib.spt_method_config_set(self.ptr, k, _value(name, value)))

    def get(self, key):
        """Read one knob (its default if never set), as a float."""
        _, k = self._key(key)
        v = c_double()
        errors.check(lib.spt_method_config_get(self.ptr, k, ctypes.byref(v)))
        return v.value

    __getitem__ = get
    __setitem__ = set

    def set_densities(self, densities):
        """Explicit densities in (0, 1], one per weight layer in model order;
        an empty list clears them."""
        d = B.as_input(list(densities), "f64", "densities")
        errors.check(lib.spt_method_config_set_densities(self.ptr, d.ptr if d.size else None, d.size))

    @property
    def method(self):
        """The method's name."""
        m = c_int()
        errors.check(lib.spt_method_config_method(self.ptr, ctypes.byref(m)))
        return method_name(m.value)

    def rounds(self):
        """Training rounds the method runs (lottery: R + 1; others 1)."""
        r = c_int64()
        errors.check(lib.spt_method_config_rounds(self.ptr, ctypes.byref(r)))
        return r.value

    def __repr__(self):
        if self.closed:
            return "<MethodConfig closed>"
        method = self.method if self.user_method is None else "user %r" % self.user_method.name
        return "<MethodConfig %s sparsity=%g>" % (method, self.get("sparsity"))
