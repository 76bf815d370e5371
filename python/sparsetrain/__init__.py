"""sparsetrain: dynamic sparse training (RigL and peers) through libsparsetrain's C ABI.

Pure standard library (ctypes); NumPy arrays are used without copies when
NumPy is installed. Quick start::

    import sparsetrain as spt
    train = spt.Dataset.load_mnist(split="train")
    test = spt.Dataset.load_mnist(split="test")
    model = spt.Model.mlp([784, 300, 100, 10], seed=1)
    batcher = spt.Batcher(train, 128, seed=1)
    epochs = 3
    trainer = spt.Trainer(model, spt.Optimizer("sgd", lr=0.1, momentum=0.9),
                          spt.LRSchedule("cosine", base=0.1),
                          spt.MethodConfig("rigl", sparsity=0.9),
                          total_steps=epochs * len(batcher))
    for epoch in range(epochs):
        trainer.train_epoch(batcher)
        print(trainer.evaluate(test))

Your own networks: :class:`Net` describes one layer by layer
(``net.conv2d(out=16, padding=1)``, ``net.relu()``, ``net.add(node)``, ...)
and ``net.build(seed)`` makes the :class:`Model` (see :mod:`sparsetrain.net`).

Objects own C handles: they have close() (idempotent), work as context
managers and free themselves when garbage-collected. Every failure raises a
subclass of :class:`Error` with ``.status`` and the library's message.
"""
from . import checkpoint, sparsity
from ._buffers import HAVE_NUMPY
from ._lib import lib as _clib
from ._lib import path as library_path
from .comm import Comm, mpi_launched
from .data import BATCH_DROP_LAST, BATCH_SHUFFLE, FASHION_MNIST_DIR, Batcher, Dataset
from .errors import (ChecksumError, ClosedError, Error, FileIOError, FormatError, InternalError, InvalidError,
                     NoMemoryError, NonFiniteError, NullError, SizeError, StateError, UnsupportedError, VersionError,
                     last_error, status_string)
from .errors import CallbackError
from .layout import to_example_major, to_feature_major
from .method import METHODS, MethodConfig, ParamInfo, method_id, method_name, method_params, method_summary, \
    STRUCTURES, supports_structure
from .model import LayerInfo, Model
from .net import Branch, Net, Node, layer_params
from .optim import LRSchedule, Optimizer
from .tensor import CsrMatrix, bottomk, topk
from .trainer import Flops, LayerDensity, Progress, Trainer
from .user_method import ScoreLayer, UserMethod

__version__ = _clib.spt_version_string().decode()


def version():
    """The library's version string, "MAJOR.MINOR.PATCH"."""
    return _clib.spt_version_string().decode()


def version_number():
    """The library's version as MAJOR * 10000 + MINOR * 100 + PATCH."""
    return _clib.spt_version_number()


def set_num_threads(n):
    """Threads of the library's kernels, 0 to SPT_MAX_THREADS (1024); 0 = all
    cores. Global state: set it before starting threads that use the library."""
    from ._args import integer
    from .errors import check
    check(_clib.spt_set_num_threads(integer(n, "n", "int")))


def get_num_threads():
    return _clib.spt_get_num_threads()


_DISPATCH = {"threshold": 0, "timed": 1, "sparse": 2, "dense": 3}


def set_dispatch(mode, threshold=None):
    """How sparse layers choose between the sparse kernels and dense OpenBLAS:
    "threshold" (default; dense from ``threshold`` density up, reproducible),
    "timed", "sparse" or "dense". Global: set it before building a Trainer
    (and before starting threads that use the library)."""
    from .errors import check
    if mode not in _DISPATCH:
        raise ValueError("mode must be one of %s" % ", ".join(_DISPATCH))
    if threshold is not None:
        check(_clib.spt_set_dispatch_threshold(float(threshold)))
    check(_clib.spt_set_dispatch_mode(_DISPATCH[mode]))


def get_dispatch():
    """(mode, threshold) as set by :func:`set_dispatch`."""
    names = {v: k for k, v in _DISPATCH.items()}
    return names[_clib.spt_get_dispatch_mode()], _clib.spt_get_dispatch_threshold()


def simd_name():
    """The SIMD path the kernels use: "avx512", "avx2" or "generic"."""
    return _clib.spt_simd_name().decode()


__all__ = [
    "Batcher", "BATCH_DROP_LAST", "BATCH_SHUFFLE", "bottomk", "Comm", "mpi_launched", "checkpoint", "ChecksumError", "ClosedError",
    "CsrMatrix", "Dataset", "Error", "FASHION_MNIST_DIR", "FileIOError", "Flops", "FormatError", "get_num_threads",
    "HAVE_NUMPY", "InternalError", "InvalidError", "last_error", "LayerDensity", "LayerInfo", "library_path",
    "LRSchedule", "MethodConfig", "method_id", "method_name", "METHODS", "Model", "NoMemoryError", "NonFiniteError",
    "method_params", "method_summary", "ParamInfo", "STRUCTURES", "supports_structure",
    "NullError", "Optimizer", "Progress", "set_num_threads", "simd_name", "SizeError", "sparsity", "StateError",
    "status_string", "to_example_major", "to_feature_major", "topk", "Trainer", "UnsupportedError", "UserMethod",
    "ScoreLayer", "version", "version_number", "VersionError", "CallbackError", "Net", "Node", "Branch",
    "layer_params",
]
