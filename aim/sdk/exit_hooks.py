"""Close every live run exactly once: normal exit, uncaught exception, SIGTERM, fork.

* ``atexit`` closes live runs; the status is ``failed`` after an uncaught exception,
  ``terminated`` after KeyboardInterrupt (SIGINT) or SIGTERM, ``finished`` otherwise.
* SIGTERM: when the process still has the default handler, ours records the status and raises
  ``SystemExit(143)`` in the main thread, so ``finally`` blocks and ``with Run()`` exits run
  and ``atexit`` closes what is left. A handler the user installed is left alone.
* fork: in the child, every run inherited from the parent is detached: its lock descriptor is
  dropped without unlocking, its locks are replaced (a lock held by the parent's flusher at
  fork time would deadlock the child), and writing to it raises ``RunClosedError``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from typing import Any, Protocol

from aim.core import events as ev


class _Closable(Protocol):
    def _close_at_exit(self, status: str) -> None: ...
    def _detach_after_fork(self) -> None: ...


_live: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_guard = threading.Lock()
_installed = False
_exit_status: str | None = None
_prev_excepthook: Any = None


def register(run: _Closable) -> None:
    """Track a live writer run so exit paths close it."""
    global _installed
    with _guard:
        _live[id(run)] = run
        if not _installed:
            _install()
            _installed = True


def unregister(run: _Closable) -> None:
    """Forget a run (it closed itself)."""
    with _guard:
        _live.pop(id(run), None)


def live_runs() -> list[Any]:
    """The writer runs currently open in this process."""
    with _guard:
        return list(_live.values())


def status_for_exception(exc: BaseException | None) -> str:
    """The status a run gets when its scope ends with ``exc``."""
    if exc is None:
        return ev.STATUS_FINISHED
    if isinstance(exc, KeyboardInterrupt) or getattr(exc, "_aim_sigterm", False):
        return ev.STATUS_TERMINATED
    if isinstance(exc, SystemExit):
        return ev.STATUS_FINISHED if exc.code in (None, 0) else ev.STATUS_FAILED
    return ev.STATUS_FAILED


class _SigtermExit(SystemExit):
    _aim_sigterm = True


def _on_sigterm(signum: int, frame: Any) -> None:
    global _exit_status
    _exit_status = ev.STATUS_TERMINATED
    raise _SigtermExit(128 + signum)


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    global _exit_status
    if _exit_status is None:
        _exit_status = status_for_exception(exc)
    (_prev_excepthook or sys.__excepthook__)(exc_type, exc, tb)


def _at_exit() -> None:
    status = _exit_status or ev.STATUS_FINISHED
    for run in live_runs():
        try:
            run._close_at_exit(status)
        except Exception as exc:
            print(f"aim: could not close run at exit: {exc}", file=sys.stderr)


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()
    runs = list(_live.values())
    _live.clear()
    for run in runs:
        run._detach_after_fork()


def _install() -> None:
    global _prev_excepthook
    atexit.register(_at_exit)
    _prev_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    os.register_at_fork(after_in_child=_after_fork_in_child)
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass  # not allowed here (embedded interpreter): exits by SIGTERM lose the last flush
