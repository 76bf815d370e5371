"""Choosing a sparse-training method and its knobs (sparsetrain/method.h)."""
import collections
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._handle import Handle, locked, using
from ._lib import MethodConfigP, c_double, c_int, c_int64, lib
from .user_method import UserMethod

#: spt_param_type values by name (pinned in method.h)
PARAM_TYPES = ("real", "integer", "boolean", "choice")
_LO_OPEN, _HI_OPEN = 1, 2  # spt_param_bound_flag

#: Python keywords that differ from the library's parameter name
#: (spt_method_param_name), since "global" is a Python keyword.
_KEYWORD_OF = {"global": "global_pruning"}
#: Names accepted besides the library's own, kept for compatibility (the
#: library accepts them too: spt_method_param_choice_from_name).
_CHOICE_ALIASES = {"distribution": ("erdos_renyi",), "structure": ("n:m",)}


def _text(s):
    return s.decode() if s is not None else None


def _is_user(m):
    flag = c_int()
    errors.check(lib.spt_method_is_user(m, ctypes.byref(flag)))
    return flag.value != 0


def _method_names():
    """The methods a name selects (not SPT_METHOD_USER, which is made from
    criteria: see user_method), indexed by spt_method value."""
    return tuple(_text(lib.spt_method_name(m)) for m in range(lib.spt_method_count()) if not _is_user(m))


def _param_keys():
    """keyword -> SPT_MP_* key, from the library, in key order."""
    keys = {}
    for k in range(lib.spt_method_param_count()):
        name = _text(lib.spt_method_param_name(k))
        keys[_KEYWORD_OF.get(name, name)] = k
    return keys


def _choice_values(param):
    """name -> value of a choice parameter: the library's names (value
    order), then the aliases."""
    key = c_int()
    errors.check(lib.spt_method_param_from_name(param.encode(), ctypes.byref(key)))
    lo, hi = c_double(), c_double()
    errors.check(lib.spt_method_param_bounds(key.value, ctypes.byref(lo), ctypes.byref(hi), None))
    table = {_text(lib.spt_method_param_choice_name(key.value, v)): v for v in range(int(lo.value), int(hi.value) + 1)}
    for alias in _CHOICE_ALIASES.get(param, ()):
        v = c_int()
        errors.check(lib.spt_method_param_choice_from_name(key.value, alias.encode(), ctypes.byref(v)))
        table[alias] = v.value
    return table


#: names of the built-in methods, indexed by spt_method value (from the library)
METHODS = _method_names()
#: keyword -> SPT_MP_* key (from the library; ``global_pruning`` is SPT_MP_GLOBAL)
PARAMS = _param_keys()
#: spt_distribution values by name (from the library)
DISTRIBUTIONS = _choice_values("distribution")
#: spt_drop_schedule values by name (from the library)
DROP_SCHEDULES = _choice_values("drop_schedule")
#: spt_structure values by name (from the library; "n:m" is "nm")
STRUCTURES = _choice_values("structure")
_NAMED = {"distribution": DISTRIBUTIONS, "drop_schedule": DROP_SCHEDULES, "structure": STRUCTURES}


class ParamInfo(collections.namedtuple("ParamInfo", "name key type default lo hi lo_open hi_open choices doc")):
    """What the library says about one method parameter (see
    :func:`method_params`).

    ``name`` is the :class:`MethodConfig` keyword, ``key`` the SPT_MP_*
    number, ``type`` one of :data:`PARAM_TYPES`. ``default`` is the method's
    default (float for real, int for integer, bool for boolean, the name for
    a choice). A value v is accepted iff ``lo <= v <= hi`` (``v > lo`` when
    ``lo_open``, ``v < hi`` when ``hi_open``) and, unless the type is real, v
    is whole; a choice also takes a name from ``choices``. ``doc`` is one
    line."""

    def accepts(self, value):
        """Whether :meth:`MethodConfig.set` accepts a number (names of a
        choice: look them up in ``choices``)."""
        v = float(value)
        if v != v or v < self.lo or v > self.hi or (self.lo_open and v == self.lo) or (self.hi_open and v == self.hi):
            return False
        return self.type == "real" or v == int(v)


def _param_info(method, key):
    name = _text(lib.spt_method_param_name(key))
    t, d, lo, hi, flags = c_int(), c_double(), c_double(), c_double(), c_int()
    errors.check(lib.spt_method_param_type(key, ctypes.byref(t)))
    errors.check(lib.spt_method_param_default(method, key, ctypes.byref(d)))
    errors.check(lib.spt_method_param_bounds(key, ctypes.byref(lo), ctypes.byref(hi), ctypes.byref(flags)))
    kind = PARAM_TYPES[t.value] if 0 <= t.value < len(PARAM_TYPES) else str(t.value)
    choices = None
    default = d.value
    if kind == "choice":
        choices = tuple(_text(lib.spt_method_param_choice_name(key, v))
                        for v in range(int(lo.value), int(hi.value) + 1))
        default = _text(lib.spt_method_param_choice_name(key, int(d.value)))
    elif kind == "integer":
        default = int(d.value)
    elif kind == "boolean":
        default = bool(d.value)
    return ParamInfo(_KEYWORD_OF.get(name, name), key, kind, default, lo.value, hi.value,
                     bool(flags.value & _LO_OPEN), bool(flags.value & _HI_OPEN), choices,
                     _text(lib.spt_method_param_doc(key)))


def method_params(method):
    """The parameters a method reads, as ``{keyword: ParamInfo}`` in key
    order, from the library (spt_method_uses_param and the
    spt_method_param_* metadata). ``method`` is a name or an spt_method
    value; dense training reads none."""
    m = method_id(method)
    out = {}
    for key in range(lib.spt_method_param_count()):
        uses = c_int()
        errors.check(lib.spt_method_uses_param(m, key, ctypes.byref(uses)))
        if uses.value:
            info = _param_info(m, key)
            out[info.name] = info
    return out


def supports_structure(method, structure):
    """Whether a method supports a structure (``"fanin"``, ``"nm"`` or
    ``"n:m"``, ``"channel"``, ``"kernel"``, ``"unstructured"``, or an
    spt_structure value): a :class:`Trainer` of a configuration naming one
    it does not support raises :class:`UnsupportedError` (docs/methods.md,
    "Structured sparsity"). Set it like any knob:
    ``MethodConfig("rigl", structure="fanin")`` or
    ``MethodConfig("rigl", structure="nm", structure_n=2, structure_m=4)``."""
    if isinstance(structure, str):
        if structure.lower() not in STRUCTURES:
            raise errors.InvalidError("structure %r is not one of %s" % (structure, ", ".join(sorted(STRUCTURES))),
                                      errors.ERR_INVALID)
        structure = STRUCTURES[structure.lower()]
    out = c_int()
    errors.check(lib.spt_method_supports_structure(method_id(method), _args.integer(structure, "structure", "i32"),
                                                   ctypes.byref(out)))
    return out.value != 0


def method_summary(method):
    """One line saying what a method does, with its paper."""
    return _text(lib.spt_method_summary(method_id(method)))


def method_id(method):
    """The spt_method value of a name ("rigl") or an int."""
    if isinstance(method, str):
        m = c_int()
        errors.check(lib.spt_method_from_name(_args.text(method.lower(), "method"), ctypes.byref(m)))
        return m.value
    return _args.integer(method, "method", "int")


def method_name(method):
    """The name of an spt_method value (None for an unknown value)."""
    s = lib.spt_method_name(_args.integer(method, "method", "int"))
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
            with using(method):
                errors.check(lib.spt_method_config_create_user(method._p, ctypes.byref(out)))
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
        return str(key), _args.integer(key, "parameter key", "int")

    @locked
    def set(self, key, value):
        """Set one knob by name (or SPT_MP_* number)."""
        name, k = self._key(key)
        errors.check(lib.spt_method_config_set(self._p, k, _value(name, value)))

    @locked
    def get(self, key):
        """Read one knob (its default if never set), as a float."""
        _, k = self._key(key)
        v = c_double()
        errors.check(lib.spt_method_config_get(self._p, k, ctypes.byref(v)))
        return v.value

    __getitem__ = get
    __setitem__ = set

    @locked
    def set_densities(self, densities):
        """Explicit densities in (0, 1], one per weight layer in model order;
        an empty list clears them."""
        d = B.as_input(list(densities), "f64", "densities")
        errors.check(lib.spt_method_config_set_densities(self._p, d.ptr if d.size else None, d.size))

    @property
    @locked
    def method(self):
        """The method's name."""
        m = c_int()
        errors.check(lib.spt_method_config_method(self._p, ctypes.byref(m)))
        return method_name(m.value)

    @locked
    def rounds(self):
        """Training rounds the method runs (lottery: R + 1; others 1)."""
        r = c_int64()
        errors.check(lib.spt_method_config_rounds(self._p, ctypes.byref(r)))
        return r.value

    def __repr__(self):
        if self.closed:
            return "<MethodConfig closed>"
        method = self.method if self.user_method is None else "user %r" % self.user_method.name
        return "<MethodConfig %s sparsity=%g>" % (method, self.get("sparsity"))
