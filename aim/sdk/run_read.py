"""Aim's read API on a run (times, props, logs, dataframe): what ``RunBase`` adds for readers."""

from __future__ import annotations


class RunReadMixin:
    """Read-side methods of ``Run`` and ``AsyncRun`` (Aim's names and shapes)."""
