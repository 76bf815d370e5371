"""The base of every class that owns a C handle.

- ``close()`` frees the handle; it is idempotent, and ``__exit__`` and
  ``__del__`` call it. Any later use raises :class:`ClosedError` before a C
  call is made.
- An object that borrows another (a Batcher its Dataset, a Trainer its Model)
  holds a Python reference to it and *pins* it: closing the owner while it is
  pinned only marks it closed, and the C object is freed when the last
  borrower lets go. So the C rule "destroy the borrower first" always holds.
"""
from . import errors


class Handle:
    _destroy = None  # the C destroy function, set by each subclass

    def __init__(self, ptr, borrows=()):
        self._ptr = ptr
        self._closed = False
        self._pins = 0
        self._borrows = tuple(borrows)
        for owner in self._borrows:
            owner._pins += 1

    @property
    def ptr(self):
        """The C handle; raises :class:`ClosedError` once closed."""
        if self._closed:
            raise errors.ClosedError("%s is closed" % type(self).__name__)
        return self._ptr

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Free the C object (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def _release(self):
        if self._pins > 0 or self._ptr is None:
            return  # freed when the last borrower is closed
        ptr, self._ptr = self._ptr, None
        if ptr:
            type(self)._destroy(ptr)
        borrows, self._borrows = self._borrows, ()
        for owner in borrows:
            owner._pins -= 1
            if owner._closed:
                owner._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # Runs at garbage collection (and possibly at interpreter exit, when
        # module globals may already be gone): never raise from here.
        try:
            self.close()
        except Exception:
            pass
