"""Sparsity allocation, schedules and FLOP accounting (sparsetrain/sparsity.h).

Layer lists are given as a list of weight shapes: ``(out, in)`` for a linear
weight, ``(out, in, kh, kw)`` for a convolution kernel.
"""
import ctypes

from . import _args
from . import _buffers as B
from . import errors
from ._lib import c_double, c_int, lib
from .method import DISTRIBUTIONS, DROP_SCHEDULES, _value, method_id


def _layer_list(shapes):
    ndim, flat = [], []
    for i, s in enumerate(shapes):
        s = [_int(d, "shapes[%d]" % i) for d in s]
        if len(s) not in (2, 4):
            raise errors.InvalidError("a layer shape must have 2 or 4 dims, got %s" % (s,), errors.ERR_INVALID)
        ndim.append(len(s))
        flat.extend(s + [1] * (4 - len(s)))
    if not ndim:
        raise errors.SizeError("no layers", errors.ERR_SIZE)
    return len(ndim), B.as_input(ndim, "i32", "ndim"), B.as_input(flat, "i64", "shape")


_int = _args.integer


def _distribution(distribution):
    return _int(_value("distribution", distribution), "distribution", "int")


def _opt(values, kind, n, name):
    if values is None:
        return None, None
    b = B.as_input(list(values), kind, name)
    if b.size != n:
        raise errors.SizeError("%s has %d entries for %d layers" % (name, b.size, n), errors.ERR_SIZE)
    return b.ptr, b


def allocate(shapes, sparsity, distribution="erk", keep_dense=None):
    """(densities, nnz per layer, achieved sparsity) for a target sparsity."""
    n, nd, sh = _layer_list(shapes)
    kd, _kd = _opt([1 if k else 0 for k in keep_dense] if keep_dense is not None else None, "u8", n, "keep_dense")
    dens, nnz = B.new_output("f64", (n,)), B.new_output("i64", (n,))
    got = c_double()
    errors.check(lib.spt_sparsity_allocate(_distribution(distribution), float(sparsity), n, nd.ptr, sh.ptr, kd,
                                           dens.ptr, nnz.ptr, ctypes.byref(got)))
    return B.result(dens), B.result(nnz), got.value


def allocate_epsilon(shapes, epsilon, distribution="er", keep_dense=None):
    """(densities, nnz per layer, achieved sparsity) from the SET paper's epsilon:
    each layer's density is min(1, epsilon * its ER/ERK score)."""
    n, nd, sh = _layer_list(shapes)
    kd, _kd = _opt([1 if k else 0 for k in keep_dense] if keep_dense is not None else None, "u8", n, "keep_dense")
    dens, nnz = B.new_output("f64", (n,)), B.new_output("i64", (n,))
    got = c_double()
    errors.check(lib.spt_sparsity_allocate_epsilon(_distribution(distribution), float(epsilon), n, nd.ptr, sh.ptr, kd,
                                                   dens.ptr, nnz.ptr, ctypes.byref(got)))
    return B.result(dens), B.result(nnz), got.value


def allocate_custom(shapes, densities):
    """(nnz per layer, achieved sparsity) for chosen densities."""
    n, nd, sh = _layer_list(shapes)
    d, _d = _opt(densities, "f64", n, "densities")
    nnz = B.new_output("i64", (n,))
    got = c_double()
    errors.check(lib.spt_sparsity_allocate_custom(n, nd.ptr, sh.ptr, d, nnz.ptr, ctypes.byref(got)))
    return B.result(nnz), got.value


def drop_fraction(t, alpha=0.3, t_end=1, schedule="cosine"):
    """RigL/SET drop fraction f(t)."""
    f = c_double()
    schedule = _args.integer(_value("drop_schedule", schedule), "schedule", "int")
    errors.check(lib.spt_drop_fraction(schedule, float(alpha), _int(t_end, "t_end"), _int(t, "t"), ctypes.byref(f)))
    return f.value


def is_update_step(t, delta_t, t_end):
    """Whether step t is a topology-update step."""
    v = c_int()
    errors.check(lib.spt_drop_is_update_step(_int(delta_t, "delta_t"), _int(t_end, "t_end"), _int(t, "t"),
                                             ctypes.byref(v)))
    return bool(v.value)


def gmp_sparsity(t, s_initial, s_final, t0, n, delta_t):
    """Gradual magnitude pruning's target sparsity at step t."""
    v = c_double()
    errors.check(lib.spt_gmp_sparsity(float(s_initial), float(s_final), _int(t0, "t0"), _int(n, "n"),
                                      _int(delta_t, "delta_t"), _int(t, "t"), ctypes.byref(v)))
    return v.value


def gmp_is_prune_step(t, t0, n, delta_t):
    v = c_int()
    errors.check(lib.spt_gmp_is_prune_step(_int(t0, "t0"), _int(n, "n"), _int(delta_t, "delta_t"), _int(t, "t"),
                                           ctypes.byref(v)))
    return bool(v.value)


def lottery_sparsity(prune_fraction, rounds):
    v = c_double()
    errors.check(lib.spt_lottery_sparsity(float(prune_fraction), _int(rounds, "rounds"), ctypes.byref(v)))
    return v.value


def flops_forward(shapes, out_hw=None, nnz=None):
    """Forward FLOPs per example of a layer list (nnz None: dense)."""
    n, nd, sh = _layer_list(shapes)
    hw, _hw = _opt(out_hw, "i64", n, "out_hw")
    z, _z = _opt(nnz, "i64", n, "nnz")
    f = c_double()
    errors.check(lib.spt_flops_forward(n, nd.ptr, sh.ptr, hw, z, ctypes.byref(f)))
    return f.value


def flops_train(method, f_dense, f_sparse, delta_t=100):
    """Training FLOPs per example and step of a method from f_D and f_S."""
    f = c_double()
    errors.check(lib.spt_flops_train(method_id(method), float(f_dense), float(f_sparse), _int(delta_t, "delta_t"),
                                     ctypes.byref(f)))
    return f.value


def flops_train_schedule(shapes, densities, out_hw=None):
    """Mean training FLOPs over rows of per-layer densities (n_points x L)."""
    n, nd, sh = _layer_list(shapes)
    hw, _hw = _opt(out_hw, "i64", n, "out_hw")
    rows = [list(r) for r in densities]
    flat = [float(v) for r in rows for v in r]
    if not rows or len(flat) != n * len(rows):
        raise errors.SizeError("densities must be n_points x %d" % n, errors.ERR_SIZE)
    d = B.as_input(flat, "f64", "densities")
    f = c_double()
    errors.check(lib.spt_flops_train_schedule(n, nd.ptr, sh.ptr, hw, len(rows), d.ptr, ctypes.byref(f)))
    return f.value


def flops_train_gmp(shapes, final_density, t0, n_prunes, delta_t, total_steps, initial_density=None, out_hw=None):
    """Mean training FLOPs per example and step of a GMP run."""
    n, nd, sh = _layer_list(shapes)
    hw, _hw = _opt(out_hw, "i64", n, "out_hw")
    ini, _ini = _opt(initial_density, "f64", n, "initial_density")
    fin, _fin = _opt(final_density, "f64", n, "final_density")
    f = c_double()
    errors.check(lib.spt_flops_train_gmp(n, nd.ptr, sh.ptr, hw, ini, fin, _int(t0, "t0"), _int(n_prunes, "n_prunes"),
                                         _int(delta_t, "delta_t"), _int(total_steps, "total_steps"), ctypes.byref(f)))
    return f.value


__all__ = ["allocate", "allocate_custom", "drop_fraction", "is_update_step", "gmp_sparsity", "gmp_is_prune_step",
           "lottery_sparsity", "flops_forward", "flops_train", "flops_train_schedule", "flops_train_gmp",
           "DISTRIBUTIONS", "DROP_SCHEDULES"]
