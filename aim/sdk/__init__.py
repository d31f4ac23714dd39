"""The shells users construct: Run, Repo (and their async twins).

``from aim.sdk import Run, Repo`` works as in Aim's documentation; the modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["AsyncRepo", "AsyncRun", "Repo", "Run"]

if TYPE_CHECKING:
    from aim.sdk.async_repo import AsyncRepo
    from aim.sdk.async_run import AsyncRun
    from aim.sdk.repo import Repo
    from aim.sdk.run import Run


def __getattr__(name: str) -> Any:
    # Lazy, like `aim` itself: `import aim.sdk.capture` must not import every shell.
    if name == "Run":
        from aim.sdk.run import Run

        return Run
    if name == "Repo":
        from aim.sdk.repo import Repo

        return Repo
    if name == "AsyncRun":
        from aim.sdk.async_run import AsyncRun

        return AsyncRun
    if name == "AsyncRepo":
        from aim.sdk.async_repo import AsyncRepo

        return AsyncRepo
    raise AttributeError(f"module 'aim.sdk' has no attribute {name!r}")
