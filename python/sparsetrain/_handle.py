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
used from two threads at once, nor destroyed while in use. Here:

- A method that calls C on a handle runs under the handle's lock (an RLock;
  :func:`locked`, :func:`using`): calls on one handle from several threads
  run one after the other; ``close()`` waits for a call running on another
  thread, and any later call raises :class:`ClosedError`.
- A Trainer shares its Model's lock: C forbids using a model while its
  trainer runs.
- A Dataset is the one handle C lets several threads read at once
  (sparsetrain/data.h): its reading methods, and every call of a Batcher
  over it or of ``Trainer.evaluate(dataset)``, *read* it (:func:`reading`,
  ``using(..., reads=...)``) without holding its lock, so trainers fed from
  one dataset train at once. Its one writer, ``set_normalization()``, waits
  for the reads running on other threads (and new reads wait for it).
- A call on several handles (``train_epoch(batcher)``, ``Trainer(model,
  optimizer, ...)``) takes their locks in the order the locks were made, so
  two such calls never wait for each other in a cycle.
- ``close()`` from inside a call using the handle (a progress callback, a
  user method's callback) marks it closed at once; the C object is freed
  when the last call using it returns.
- A handle garbage-collected while another thread holds its lock is queued
  and freed by that thread when it lets the lock go (a finalizer never waits
  for a lock it may not get soon: it runs on whatever thread allocated).

Library-wide settings (``set_num_threads``, ``set_dispatch``) are global
state, not handles: set them before starting threads that use the library.
"""
import functools
import itertools
import threading

from . import errors

_order = itertools.count()  # next() is atomic under the GIL
_ident = threading.get_ident


class _Group:
    """The lock of a handle (and of the handles sharing it). ``order`` ranks
    it for calls that take several locks; ``cond`` is for the readers and
    writers of a dataset; ``pending`` holds handles finalized while the lock
    was held elsewhere."""

    __slots__ = ("lock", "cond", "order", "pending")

    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
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


def _start_read(h, borrowed):
    """Register the calling thread as a reader of h. ``borrowed``: h is read
    through a borrower (a Batcher's Dataset): allowed after h.close(), which
    only marked it closed (the borrower pins it)."""
    g = h._group
    with g.lock:
        if h._closed and not borrowed:
            raise _closed_error(h)
        me = _ident()
        depth = h._readers.get(me, 0)
        if not depth:
            while h._writers:  # a writer waits for the running reads: new ones wait for it
                g.cond.wait()
        h._readers[me] = depth + 1
        h._active += 1


def _end_read(h):
    g = h._group
    with g.lock:
        me = _ident()
        depth = h._readers[me] - 1
        if depth:
            h._readers[me] = depth
        else:
            del h._readers[me]
        h._active -= 1
        if not h._active and h._closed:
            h._release()
        g.cond.notify_all()
    if g.pending:
        _drain(g)


class _Using:
    """Context manager of :func:`using`: locks the handles' groups in order,
    refuses closed handles, registers the reads, and marks everything in use
    until exit."""

    __slots__ = ("handles", "reads", "groups", "started")

    def __init__(self, handles, reads=()):
        self.handles = [h for h in handles if h is not None]
        self.reads = [(h, borrowed) for h, borrowed in reads if h is not None]
        self.groups = self.started = None

    def __enter__(self):
        handles = self.handles
        reads = list(self.reads)
        for h in handles:  # a borrower that does not share its owner's lock reads the owner
            reads.extend((owner, True) for owner in h._borrows if owner._group is not h._group)
        groups = {}
        for h in handles:
            groups[id(h._group)] = h._group
        groups = sorted(groups.values(), key=lambda g: g.order)
        taken, started = [], []
        try:
            for g in groups:
                g.lock.acquire()
                taken.append(g)
            for h in handles:
                if h._closed:
                    raise _closed_error(h)
            for h, borrowed in reads:
                _start_read(h, borrowed)
                started.append(h)
        except BaseException:
            for h in reversed(started):
                _end_read(h)
            for g in reversed(taken):
                g.lock.release()
            raise
        for h in handles:
            h._active += 1
        self.groups, self.started = groups, started
        return self

    def __exit__(self, *exc):
        try:
            for h in self.handles:
                h._active -= 1
                if h._closed and not h._active:
                    h._release()  # closed during the call, from this thread
        finally:
            try:
                for h in reversed(self.started):
                    _end_read(h)
            finally:
                for g in reversed(self.groups):
                    g.lock.release()
                for g in self.groups:
                    if g.pending:
                        _drain(g)
        return False


def using(*handles, reads=()):
    """``with using(a, b, reads=((ds, False),)):`` runs a block of C calls on
    the handles (None entries are skipped) under their locks, and reading
    each ``(handle, borrowed)`` of ``reads`` (see :func:`_start_read`);
    raises ClosedError for a closed one before any C call."""
    return _Using(handles, reads)


def locked(method):
    """Decorator of a Handle method that calls C on ``self``: the call runs
    under the handle's lock (see :func:`using`)."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if self._borrows and not self._shares_owner_lock:
            with _Using((self,)):  # it reads its owner too
                return method(self, *args, **kwargs)
        # _Using((self,)), inlined: this runs on every call.
        group = self._group
        group.lock.acquire()
        try:
            if self._closed:
                raise _closed_error(self)
            self._active += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                self._active -= 1
                if self._closed and not self._active:
                    self._release()
        finally:
            group.lock.release()
            if group.pending:
                _drain(group)
    return call


def reading(method):
    """Decorator of a method that only reads ``self`` (a Dataset's): it runs
    as a read, at once with other reads (see the module comment)."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        with _Using((), ((self, False),)):
            return method(self, *args, **kwargs)
    return call


class Handle:
    _destroy = None  # the C destroy function, set by each subclass
    #: whether a borrower takes its owner's lock (else it reads the owner in each of its calls)
    _shares_owner_lock = True

    def __init__(self, ptr, borrows=()):
        self._closed = False
        self._pins = 0
        self._active = 0  # calls and reads using the handle now
        self._readers = {}  # thread ident -> depth of its reads
        self._writers = 0  # writers waiting for the reads to end
        self._borrows = tuple(borrows)
        shared = {id(owner._group) for owner in self._borrows}
        if self._shares_owner_lock and len(shared) > 1:
            raise errors.InternalError("a handle borrows from owners with different locks", errors.ERR_INTERNAL)
        if self._shares_owner_lock and self._borrows:
            self._group = self._borrows[0]._group
        else:
            self._group = _Group()
        self._ptr = ptr
        for owner in self._borrows:
            with owner._group.lock:
                owner._pins += 1

    @property
    def ptr(self):
        """The C handle, for your own ctypes calls; raises
        :class:`ClosedError` once closed. Such calls are not synchronised
        with the binding's: run them inside ``with
        sparsetrain._handle.using(obj):`` when other threads may use the
        object."""
        if self._closed:
            raise _closed_error(self)
        return self._ptr

    @property
    def _p(self):
        """The C handle inside a locked call or a read (see :func:`locked`,
        :func:`reading`); using it outside them is a bug of the binding."""
        if not (self._group.lock._is_owned() or _ident() in self._readers):
            raise errors.InternalError("%s used without its lock (a bug of the binding)" % type(self).__name__,
                                       errors.ERR_INTERNAL)
        return self._ptr

    def _use(self):
        """``with obj._use():`` C calls on this handle (see :func:`using`)."""
        return _Using((self,))

    def _wait_for_readers(self):
        """Inside a locked call that changes the handle: wait until no other
        thread reads it (new reads wait meanwhile)."""
        if self._readers.get(_ident()):
            raise errors.StateError("%s is being read by a call on this thread (a callback cannot change it)"
                                    % type(self).__name__, errors.ERR_STATE)
        cond = self._group.cond
        self._writers += 1
        try:
            while self._readers:
                cond.wait()
        finally:
            self._writers -= 1
            if not self._writers:
                cond.notify_all()

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
        # With the group's lock held, once closed and nothing uses the handle.
        if self._pins > 0 or self._ptr is None:
            return  # freed when the last borrower is closed
        ptr, self._ptr = self._ptr, None
        if ptr:
            type(self)._destroy(ptr)
        borrows, self._borrows = self._borrows, ()
        for owner in borrows:
            # The owner's lock: held already when shared; else only ever held
            # briefly (a read starting or ending, the owner's own calls).
            with owner._group.lock:
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
        # gone): never raise, never wait for the handle's lock.
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
