"""Data-parallel training over MPI (sparsetrain/comm.h, sparsetrain/mpi.h).

Run the same script on every rank (``mpirun -np 2 python3 train.py``)::

    import sparsetrain as spt
    comm = spt.Comm.mpi_world()           # MPI_Init if nobody did
    ... build the dataset, model and trainer exactly as on one process ...
    trainer.set_comm(comm)
    batcher.set_shard(comm.rank, comm.size)
    for epoch in range(epochs):
        trainer.train_epoch(batcher)      # each rank its share of each batch
    if comm.rank == 0:
        trainer.save(path)

Every rank holds the whole sparse model; a step sums the stored values'
gradients over the ranks, and after every topology update the ranks compare
a checksum of their masks. The trainer's steps, epochs, ``prepare`` and
``evaluate`` are then collective: every rank calls them, in the same order.
A failure on one rank raises on every rank with that rank's message.
docs/distributed.md has the details and costs.

The MPI engine is the optional library ``libsparsetrain_mpi`` (built when
CMake finds MPI), looked for next to libsparsetrain, or at the path in the
environment variable ``SPT_MPI_LIBRARY``.
"""
import ctypes
import os

from . import errors
from ._handle import Handle, locked
from ._lib import CommP, CommStats, lib
from ._lib import path as _core_path

_mpi = None


def _mpi_lib():
    """libsparsetrain_mpi, loaded once (ImportError naming what was tried)."""
    global _mpi
    if _mpi is not None:
        return _mpi
    env = os.environ.get("SPT_MPI_LIBRARY")
    here = os.path.dirname(os.path.realpath(_core_path)) if os.path.isabs(_core_path) else None
    tried = [env] if env else ([os.path.join(here, "libsparsetrain_mpi.so.0")] if here else []) + ["libsparsetrain_mpi.so.0"]
    errs = []
    for p in tried:
        try:
            # RTLD_GLOBAL: MPI's own plug-ins need libmpi's symbols.
            m = ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errs.append("%s: %s" % (p, e))
            continue
        m.spt_comm_create_mpi_world.restype = ctypes.c_int
        m.spt_comm_create_mpi_world.argtypes = [ctypes.POINTER(CommP)]
        m.spt_mpi_launched.restype = ctypes.c_int
        m.spt_mpi_launched.argtypes = [ctypes.POINTER(ctypes.c_int)]
        _mpi = m
        return m
    raise ImportError("sparsetrain: cannot load libsparsetrain_mpi (build libsparsetrain with MPI: Debian's "
                      "libopenmpi-dev; or set SPT_MPI_LIBRARY); tried:\n  " + "\n  ".join(errs))


def mpi_launched():
    """The number of processes an MPI launcher started (``mpirun -np N``:
    N), 1 when not started so; MPI is not initialised."""
    n = ctypes.c_int()
    errors.check(_mpi_lib().spt_mpi_launched(ctypes.byref(n)))
    return n.value


class Comm(Handle):
    """A communicator: the ranks training together. Make one with
    :meth:`mpi_world`; attach it with :meth:`Trainer.set_comm`."""

    _destroy = lib.spt_comm_destroy

    def __init__(self, ptr):
        super().__init__(ptr)

    @classmethod
    def mpi_world(cls):
        """Every process of ``mpirun`` (MPI_COMM_WORLD). Initialises MPI when
        nobody has; closing the last such communicator then finalises it."""
        out = CommP()
        errors.check(_mpi_lib().spt_comm_create_mpi_world(ctypes.byref(out)))
        return cls(out)

    @property
    @locked
    def rank(self):
        return lib.spt_comm_rank(self._p)

    @property
    @locked
    def size(self):
        return lib.spt_comm_size(self._p)

    @locked
    def stats(self):
        """Traffic since creation or :meth:`reset_stats`: a dict of calls and
        the payload bytes of the float sums, integer reductions and
        broadcasts."""
        s = CommStats()
        errors.check(lib.spt_comm_get_stats(self._p, ctypes.byref(s)))
        return {"calls": s.calls, "f32_bytes": s.f32_bytes, "u64_bytes": s.u64_bytes, "bcast_bytes": s.bcast_bytes}

    @locked
    def reset_stats(self):
        lib.spt_comm_reset_stats(self._p)
