"""The exception tree of aim.

Every error aim raises on purpose derives from :class:`AimError`; anything else is a bug.
Some also derive from the builtin a Python user would reach for first (``TypeError``,
``ValueError``, ``LookupError``) so existing ``except`` clauses keep working::

    AimError
    ├── RepoError
    │   ├── RepoNotFoundError        no .aim where one was expected
    │   ├── RepoFormatError          VERSION is missing, unreadable or newer than this library
    │   └── NotADirectoryRepoError   the repo path exists but is a file (also NotADirectoryError)
    ├── InvalidRunHashError          a hash that is not 24 lowercase hex chars (also ValueError)
    ├── RunNotFoundError             a valid hash with no run behind it (also LookupError)
    ├── RunLockedError               another live process holds the run's writer lock
    ├── RunClosedError               tracking into a run that is closed, read-only or forked away
    │   └── RunWriteError            the run's writer failed (cannot encode or write): it is failed
    ├── ParamTypeError               a param value of an unsupported type (also TypeError, ValueError)
    ├── MetricValueError             a bad track() value, name, step or context (also TypeError,
    │                                ValueError: Aim raises ValueError there)
    ├── QueryError                   an AimQL query that is invalid or not allowed (also ValueError)
    ├── CorruptSegmentError          a segment with damage that is not a torn tail
    ├── MissingExtraError            an optional dependency is not installed (also ImportError)
    └── RemoteError                  object storage (S3) refused or is unreachable
        └── RemoteConflictError      a remote object holds different bytes: never overwritten

Each error's message is one line a user can act on; ``hint`` (when set) says what to run.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class AimError(Exception):
    """Root of every error aim raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class RepoError(AimError):
    """A problem with the repository as a whole."""


class RepoNotFoundError(RepoError):
    """Raised when a path holds no ``.aim`` repository and ``init`` was not asked for."""


class RepoFormatError(RepoError):
    """Raised when ``.aim/VERSION`` is missing, unreadable, or from a newer format version."""


class NotADirectoryRepoError(RepoError, NotADirectoryError):
    """Raised when the repository path (or its ``.aim``) exists but is not a directory."""


class InvalidRunHashError(AimError, ValueError):
    """Raised when a run hash is not 24 lowercase hex characters; checked before any path use."""


class RunNotFoundError(AimError, LookupError):
    """Raised when a well-formed run hash names no run in the repository."""


class RunLockedError(AimError):
    """Raised when another live process (or another Run object) holds the run's writer lock."""

    def __init__(self, message: str, *, pid: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.pid = pid


class RunClosedError(AimError):
    """Raised when writing to a run that is closed, opened read-only, or owned by a parent process."""


class RunWriteError(RunClosedError):
    """Raised by the next ``track``/``flush``/``close`` after the run's writer failed (an event
    it could not encode, a write error other than a full disk). The message names the cause;
    what was tracked before it is on disk, and the run is recorded as ``failed``."""


class ParamTypeError(AimError, TypeError, ValueError):
    """Raised when a param value has an unsupported type; the message names the key path.

    Both a ``TypeError`` (what Aim raises for an unsupported value) and a ``ValueError`` (what
    Aim raises for an unsupported key), so ``except`` clauses written for Aim keep working."""


class MetricValueError(AimError, TypeError, ValueError):
    """Raised when ``track`` gets a value that is not a real number, or a bad name, step, epoch
    or context. A ``ValueError`` as in Aim, and a ``TypeError`` as it always was here."""


class QueryError(AimError, ValueError):
    """Raised for an AimQL query that does not parse, uses something not allowed (a dunder
    attribute, an import, a call outside the allow-list) or exceeds a limit; the message names
    the column."""


class CorruptSegmentError(AimError):
    """Raised when a segment holds damaged frames followed by valid ones (not a torn tail)."""


class MissingExtraError(AimError, ImportError):
    """Raised when a feature needs an optional dependency; the hint names the extra to install."""


class RemoteError(AimError):
    """Object storage (S3) refused or could not be reached; the message says which and why."""


class RemoteConflictError(RemoteError):
    """An object already at a key holds different bytes than ours: nothing is overwritten."""


def require(module: str, *, integration: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` (a framework, a tracker's library) or raise ``MissingExtraError`` naming
    the extra that installs it; ``integration`` is the feature that needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Missing: the module itself or a package above it. Anything else is the framework
        # failing to import (a dependency of its own, a backend): say that, not "install".
        name = getattr(exc, "name", None) or ""
        missing = isinstance(exc, ModuleNotFoundError) and (module == name or module.startswith(name + "."))
        what = "which is not installed" if missing else "which failed to import"
        raise MissingExtraError(f"{integration} needs {package or module}, {what} ({exc})",
                                hint=f"pip install 'aim[{extra}]'" if missing else None) from exc
