"""Shared by the integrations' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# A run with nothing captured: the tests count its metrics and events exactly.
QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False, "log_system_params": False}


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models train faster on one thread than on two busy cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
