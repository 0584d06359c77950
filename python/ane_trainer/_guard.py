"""A C handle that calls from any thread and a close() share safely.

The C trainer is freed only when no call uses it: ``close()`` marks it closed at once (new
calls raise :class:`ArgumentError`) and the last call in flight frees it on its way out, so a
close from another thread, or from a callback inside ``fit``, never frees memory a running C
call still uses. Calls into one handle are serialized (the C trainer is not thread-safe); a
call made while another thread's call runs waits for it.
"""
import contextlib
import threading

from .errors import ArgumentError


class Guard:
    def __init__(self, handle, free, what):
        self._h = handle
        self._free = free
        self._what = what
        self._state = threading.Lock()   # guards _h, _busy, closed
        self._calls = threading.RLock()  # one C call sequence at a time; re-entrant for callbacks
        self._local = threading.local()  # this thread's nesting depth
        self._busy = 0
        self.closed = False
        self.closed_by = None  # the thread that closed it

    @contextlib.contextmanager
    def use(self):
        """The live handle for the duration of a ``with`` block. A closed handle raises,
        except inside a use this thread already holds (a callback finishing its own call)."""
        depth = getattr(self._local, "depth", 0)
        with self._state:
            if self._h is None or (self.closed and depth == 0):
                raise ArgumentError("this %s is closed" % self._what)
            self._busy += 1
        self._local.depth = depth + 1
        try:
            with self._calls:
                yield self._h
        finally:
            self._local.depth = depth
            self._release()

    def _release(self):
        with self._state:
            self._busy -= 1
            h = self._take_if_idle()
        if h is not None:
            self._free(h)

    def _take_if_idle(self):
        if self.closed and self._busy == 0 and self._h is not None:
            h, self._h = self._h, None
            return h
        return None

    def close(self):
        """Closed from now on; freed now, or when the last call in flight ends."""
        with self._state:
            if not self.closed:
                self.closed, self.closed_by = True, threading.get_ident()
            h = self._take_if_idle()
        if h is not None:
            self._free(h)
