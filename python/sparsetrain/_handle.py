"""The base of every class that owns a C handle.

- ``close()`` frees the handle; it is idempotent, and ``__exit__`` and
  ``__del__`` call it. Any later use raises :class:`ClosedError` before a C
  call is made.
- An object that borrows another (a Batcher its Dataset, a Trainer its Model)
  holds a Python reference to it and *pins* it: closing the owner while it is
  pinned only marks it closed, and the C object is freed when the last
  borrower lets go. So the C rule "destroy the borrower first" always holds.

Threads. ctypes releases the GIL during a C call, so Python threads really do
run library calls at once. The C rule (sparsetrain/core.h) is: distinct
handles may be used from distinct threads at once; one handle must not be
used from two threads at once, and must not be destroyed while in use. Here:

- Every method that calls C on a handle runs under the handle's lock (an
  RLock; :func:`locked`, :func:`using`): calls on one handle from several
  threads run one after the other; ``close()`` waits for a call running on
  another thread, and any later call raises :class:`ClosedError`.
- A borrower shares its owner's lock (a Trainer its Model's, a Batcher its
  Dataset's): C forbids using a model while its trainer runs and changing a
  dataset while a batch is built from it.
- A call on several handles (``train_epoch(batcher)``, ``evaluate(dataset)``,
  ``Trainer(model, optimizer, ...)``) takes their locks in the order the
  locks were made, so two such calls never wait for each other in a cycle.
- ``close()`` from inside a call on the same handle (a progress callback, a
  user method's callback) marks it closed at once; the C object is freed
  when that call returns.
- A handle garbage-collected while another thread holds its lock is queued
  and freed by that thread when it lets the lock go (a finalizer never waits
  for a lock: it may run on any thread, at any allocation).

Library-wide settings (``set_num_threads``, ``set_dispatch``) are global
state, not handles: set them before starting threads that use the library.
"""
import functools
import itertools
import threading

from . import errors

_order = itertools.count()  # next() is atomic under the GIL


class _Group:
    """The lock of a handle and its borrowers. ``order`` ranks it for calls
    that take several locks; ``pending`` holds handles finalized while the
    lock was held elsewhere."""

    __slots__ = ("lock", "order", "pending")

    def __init__(self):
        self.lock = threading.RLock()
        self.order = next(_order)
        self.pending = []


def _closed_error(handle):
    return errors.ClosedError("%s is closed" % type(handle).__name__, errors.ERR_STATE)


def _drain(group):
    """Free the handles queued by finalizers, if the lock is free (else its
    holder does it when it lets go)."""
    if not group.lock.acquire(blocking=False):
        return
    try:
        while group.pending:
            h = group.pending.pop()
            h._closed = True
            if not h._active:
                h._release()
    finally:
        group.lock.release()


class _Using:
    """Context manager of :func:`using`: locks the handles' groups in order,
    refuses closed handles, and marks the handles in use until exit."""

    __slots__ = ("handles", "groups")

    def __init__(self, handles):
        self.handles = [h for h in handles if h is not None]
        self.groups = None

    def __enter__(self):
        handles = self.handles
        groups = {}
        for h in handles:
            groups[id(h._group)] = h._group
        groups = sorted(groups.values(), key=lambda g: g.order)
        taken = []
        try:
            for g in groups:
                g.lock.acquire()
                taken.append(g)
            for h in handles:
                if h._closed:
                    raise _closed_error(h)
        except BaseException:
            for g in reversed(taken):
                g.lock.release()
            raise
        for h in handles:
            h._active += 1
        self.groups = groups
        return self

    def __exit__(self, *exc):
        try:
            for h in self.handles:
                h._active -= 1
                if h._closed and not h._active:
                    h._release()  # closed during the call, from this thread
        finally:
            for g in reversed(self.groups):
                g.lock.release()
            for g in self.groups:
                if g.pending:
                    _drain(g)
        return False


def using(*handles):
    """``with using(a, b, ...):`` runs a block of C calls on the handles
    (None entries are skipped) under their locks; raises ClosedError for a
    closed one before any C call."""
    return _Using(handles)


def locked(method):
    """Decorator of a Handle method that calls C on ``self``: the call runs
    under the handle's lock (see :func:`using`)."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with _Using((self,)):
            return method(self, *args, **kwargs)
    return call


class Handle:
    _destroy = None  # the C destroy function, set by each subclass

    def __init__(self, ptr, borrows=()):
        self._closed = False
        self._pins = 0
        self._active = 0
        self._borrows = tuple(borrows)
        groups = {id(owner._group) for owner in self._borrows}
        if len(groups) > 1:
            raise errors.InternalError("a handle borrows from owners with different locks", errors.ERR_INTERNAL)
        self._group = self._borrows[0]._group if self._borrows else _Group()
        self._ptr = ptr
        with self._group.lock:
            for owner in self._borrows:
                owner._pins += 1

    @property
    def ptr(self):
        """The C handle, for your own ctypes calls; raises
        :class:`ClosedError` once closed. Such calls are not synchronised:
        run them inside ``with sparsetrain._handle.using(obj):`` when other
        threads may use the object."""
        if self._closed:
            raise _closed_error(self)
        return self._ptr

    @property
    def _p(self):
        """The C handle inside a locked call (see :func:`locked`); using it
        without the lock is a bug of the binding."""
        if not self._group.lock._is_owned():
            raise errors.InternalError("%s used without its lock (a bug of the binding)" % type(self).__name__,
                                       errors.ERR_INTERNAL)
        return self._ptr

    def _use(self):
        """``with obj._use():`` C calls on this handle (see :func:`using`)."""
        return _Using((self,))

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Free the C object (idempotent). Waits for a call running on
        another thread; later calls raise :class:`ClosedError`."""
        group = self._group
        with group.lock:
            if self._closed:
                return
            self._closed = True
            if not self._active:
                self._release()
        if group.pending:
            _drain(group)

    def _release(self):
        # With the group's lock held, once closed and no call runs on it.
        if self._pins > 0 or self._ptr is None:
            return  # freed when the last borrower is closed
        ptr, self._ptr = self._ptr, None
        if ptr:
            type(self)._destroy(ptr)
        borrows, self._borrows = self._borrows, ()
        for owner in borrows:  # same group: its lock is held
            owner._pins -= 1
            if owner._closed and not owner._active:
                owner._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # Runs at garbage collection, on whatever thread allocated (and
        # possibly at interpreter exit, when module globals may already be
        # gone): never raise, never wait for a lock.
        try:
            group = self._group
            if group.lock.acquire(blocking=False):
                try:
                    if not self._closed:
                        self._closed = True
                        if not self._active:
                            self._release()
                finally:
                    group.lock.release()
            elif not self._closed:
                group.pending.append(self)  # the lock's holder frees it
                _drain(group)
        except Exception:
            pass
