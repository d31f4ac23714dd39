"""When to flush: on size (pending events) or on age (seconds since the last flush).

Pure: it is told the time, it never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlushPolicy:
    """Flush when ``batch_events`` are pending or ``interval`` seconds have passed.

    ``max_pending`` bounds memory: at that many pending events ``track`` waits for the flusher.
    """

    interval: float = 1.0
    batch_events: int = 20_000
    max_pending: int = 50_000

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("flush interval must be positive")
        if not 0 < self.batch_events <= self.max_pending:
            raise ValueError("need 0 < batch_events <= max_pending")

    def due(self, pending: int, last_flush: float, now: float) -> bool:
        """True when a flush should happen now."""
        return pending >= self.batch_events or (pending > 0 and now - last_flush >= self.interval)

    def wait_time(self, last_flush: float, now: float) -> float:
        """Seconds to sleep before the age trigger fires (0 when already due)."""
        return max(0.0, last_flush + self.interval - now)
