"""aim: an ML experiment tracker built as an event-sourced log.

``from aim import Run``; every run is an append-only zstd JSON-lines log under ``.aim/runs``.
Heavy modules load on first use, so ``import aim`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aim.errors import (
    AimError,
    CorruptSegmentError,
    InvalidRunHashError,
    MetricValueError,
    MissingExtraError,
    ParamTypeError,
    RepoError,
    RepoFormatError,
    RepoNotFoundError,
    RunClosedError,
    RunLockedError,
    RunNotFoundError,
    RunWriteError,
)

__version__ = "0.1.0"

__all__ = [
    "AimError",
    "AsyncRepo",
    "AsyncRun",
    "Audio",
    "CorruptSegmentError",
    "Distribution",
    "Figure",
    "Image",
    "InvalidRunHashError",
    "MetricValueError",
    "MissingExtraError",
    "ParamTypeError",
    "Repo",
    "RepoError",
    "RepoFormatError",
    "RepoNotFoundError",
    "Run",
    "RunClosedError",
    "RunLockedError",
    "RunNotFoundError",
    "RunWriteError",
    "Text",
    "__version__",
]

if TYPE_CHECKING:
    from aim.sdk.async_repo import AsyncRepo
    from aim.sdk.async_run import AsyncRun
    from aim.sdk.objects import Audio, Distribution, Figure, Image, Text
    from aim.sdk.repo import Repo
    from aim.sdk.run import Run


_OBJECTS = ("Image", "Text", "Distribution", "Audio", "Figure")


def __getattr__(name: str) -> Any:
    # The shells load on first use (aim.sdk's own lazy attributes), so `import aim` stays cheap.
    if name in ("Run", "Repo", "AsyncRun", "AsyncRepo"):
        from aim import sdk

        return getattr(sdk, name)
    if name in _OBJECTS:  # aim.Image, aim.Text...: their libraries load when one is made
        from aim.sdk import objects

        return getattr(objects, name)
    raise AttributeError(f"module 'aim' has no attribute {name!r}")
