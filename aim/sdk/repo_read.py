"""Aim's read API on a repository (existence, counts, sequence and param info)."""

from __future__ import annotations


class RepoReadMixin:
    """Read-side methods of ``Repo`` (Aim's names and shapes)."""
