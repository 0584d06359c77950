"""Exceptions. Every failure of the C library becomes an :class:`Error` carrying its message."""


class Error(Exception):
    """A failed call into the ane_trainer library.

    Attributes: ``status`` (the C anet_status code, 0 for checks made in Python),
    ``status_name`` ("invalid argument", ...) and ``message`` (the library's one-line message).
    """

    def __init__(self, message, status=0, status_name="error"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = status_name


class ArgumentError(Error, ValueError):
    """A bad argument: wrong shape, dtype or length, NaN data, unknown option, a model or
    checkpoint that does not fit (ANET_E_INVALID, ANET_E_MISMATCH)."""


class FileError(Error, OSError):
    """A file or dataset that cannot be found or read (ANET_E_IO, ANET_E_NOTFOUND)."""


class FormatError(Error):
    """A malformed or unsupported file (ANET_E_FORMAT, ANET_E_UNSUPPORTED)."""


class BackendError(Error):
    """A backend failed to compile or run a program (ANET_E_BACKEND)."""


_BY_STATUS = {1: ArgumentError, 10: ArgumentError, 2: FileError, 6: FileError,
              3: FormatError, 5: FormatError, 9: BackendError}


def _raise_for(status, message, status_name):
    cls = _BY_STATUS.get(status, Error)
    raise cls(message or status_name, status, status_name)
