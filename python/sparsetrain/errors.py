"""Exceptions: one class per status code of the C library (core.h).

Every failing call raises a subclass of :class:`Error` carrying ``.status``
(the int code) and the detail from ``spt_last_error()`` as its message. The
classes also derive from the matching built-in exception, so ``except
ValueError`` or ``except OSError`` work as a Python user expects.
"""
from ._lib import lib

OK = 0
ERR_NULL = 1
ERR_INVALID = 2
ERR_SIZE = 3
ERR_NOMEM = 4
ERR_IO = 5
ERR_FORMAT = 6
ERR_VERSION = 7
ERR_CHECKSUM = 8
ERR_NONFINITE = 9
ERR_STATE = 10
ERR_UNSUPPORTED = 11
ERR_INTERNAL = 12
ERR_CALLBACK = 13


class Error(Exception):
    """A failure reported by libsparsetrain (or detected by the binding first).

    Attributes: ``status`` (int, an ``ERR_*`` code) and ``message`` (str)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        self.status = status


class NullError(Error, ValueError):
    """A required argument was missing (SPT_ERR_NULL)."""


class InvalidError(Error, ValueError):
    """An argument is outside its domain (SPT_ERR_INVALID)."""


class SizeError(Error, ValueError):
    """A size is negative, mismatched or overflows (SPT_ERR_SIZE)."""


class NoMemoryError(Error, MemoryError):
    """An allocation failed (SPT_ERR_NOMEM)."""


class FileIOError(Error, OSError):
    """A file could not be opened, read, written or renamed (SPT_ERR_IO)."""


class FormatError(Error, ValueError):
    """Data or a file is malformed (SPT_ERR_FORMAT)."""


class VersionError(Error):
    """A file was written by a newer format version (SPT_ERR_VERSION)."""


class ChecksumError(Error):
    """A file's checksum does not match its content (SPT_ERR_CHECKSUM)."""


class NonFiniteError(Error, ArithmeticError):
    """NaN or Inf in a loss, gradient or weight (SPT_ERR_NONFINITE)."""


class StateError(Error, RuntimeError):
    """The call is not valid in the object's current state (SPT_ERR_STATE)."""


class ClosedError(StateError):
    """The object was closed: raised by the binding before any C call."""


class UnsupportedError(Error, NotImplementedError):
    """A valid request this build or machine cannot do (SPT_ERR_UNSUPPORTED),
    or a function the loaded library does not export."""


class InternalError(Error):
    """A broken invariant inside the library (SPT_ERR_INTERNAL): a bug."""


class CallbackError(Error):
    """A callback of the caller's reported failure (SPT_ERR_CALLBACK)."""


_BY_STATUS = {
    ERR_NULL: NullError,
    ERR_INVALID: InvalidError,
    ERR_SIZE: SizeError,
    ERR_NOMEM: NoMemoryError,
    ERR_IO: FileIOError,
    ERR_FORMAT: FormatError,
    ERR_VERSION: VersionError,
    ERR_CHECKSUM: ChecksumError,
    ERR_NONFINITE: NonFiniteError,
    ERR_STATE: StateError,
    ERR_UNSUPPORTED: UnsupportedError,
    ERR_INTERNAL: InternalError,
    ERR_CALLBACK: CallbackError,
}


def status_string(status):
    """English text of a status code (any int)."""
    from . import _args
    status = int(status)
    # An int beyond C's int is no code (ctypes would wrap it, 2**32 to 0).
    return lib.spt_status_string(status if _args.fits(status, "int") else -1).decode()


def last_error():
    """The calling thread's last error message ("" before any failure)."""
    return lib.spt_last_error().decode(errors="replace")


def error_for(status, message=None):
    """The exception object for a status code (not raised)."""
    if message is None:
        message = last_error() or status_string(status)
    return _BY_STATUS.get(status, Error)(message, status)


def check(status):
    """Raise the matching :class:`Error` for a non-OK status; return None on OK.

    The message is read right after the failing call, on the same thread
    (ctypes calls run on the calling thread, and the message is per thread)."""
    if status != OK:
        raise error_for(status)
