"""What runs capture by default, shared by every run of the process: one system sampler
thread and one terminal capture, fanned out to the runs that asked for them.

Samples and log lines reach a run through its ``CaptureSink`` (``run_sinks.py``), which appends
under the run's lock and never waits for room: capture never blocks a run, and a run's full
buffer never blocks the capture (nor, through it, the user's ``print``).

The hub holds sinks, never runs: capturing for a run must not keep it alive, so that a run whose
last reference is gone is closed (``RunBase.__del__``), as in Aim.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from aim.integrations.terminal import TerminalCapture

_log = logging.getLogger("aim")


class _Hub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.switch = threading.Lock()
        # run id -> (its sink, interval, [next due])
        self.sampled: dict[int, tuple[Any, float, list[float], threading.Event]] = {}
        self.sampler: _Sampler | None = None
        self.captured: dict[int, Any] = {}  # run id -> its sink
        self.terminal: TerminalCapture | None = None

    # --- terminal ------------------------------------------------------------------------------
    # ``switch`` serializes starting and stopping the capture; ``lock`` guards the run tables
    # (the pump threads take only ``lock``, so stopping, which waits for them, holds ``switch``).
    def add_terminal(self, key: int, sink: Any, mode: str = "auto") -> None:
        with self.switch:
            if self.terminal is not None:
                # What was written before this run opened belongs to the runs open then: let it
                # reach them first (found by CI: "both open" recorded by a run opened after it).
                self.terminal.settle()
            with self.lock:
                self.captured[key] = sink
            if self.terminal is None:
                terminal = TerminalCapture(self._on_line, mode=mode)
                try:
                    terminal.start()
                except Exception as exc:  # no capture beats no run
                    _log.debug("aim: terminal capture unavailable: %s", exc)
                    return
                self.terminal = terminal
            else:  # an earlier run's capture: follow sys.stdout/stderr if they were replaced
                self.terminal.rebind()

    def remove_terminal(self, key: int) -> None:
        with self.switch:
            with self.lock:
                if key not in self.captured:
                    return
                last = len(self.captured) == 1
            # The run still receives lines while the output written before its close drains.
            if self.terminal is not None:
                if last:
                    self.terminal.stop()
                    self.terminal = None
                else:
                    self.terminal.settle()
            with self.lock:
                self.captured.pop(key, None)

    def _on_line(self, stream: str, line: str, partial: bool, ts: float) -> None:
        with self.lock:
            sinks = list(self.captured.values())
        for sink in sinks:
            sink.record_log_line(stream, line, partial)

    # --- system metrics ------------------------------------------------------------------------
    def add_sampling(self, key: int, sink: Any, interval: float, disk_path: str) -> None:
        with self.lock:
            first = time.monotonic()  # the first sample at the start, as Aim takes it
            # The event is set once a sample reached the run: a run closed right after it
            # started waits for that first one (remove_sampling), instead of racing it.
            self.sampled[key] = (sink, interval, [first], threading.Event())
            if self.sampler is None or not self.sampler.is_alive():
                self.sampler = _Sampler(self, *_samplers(disk_path))
                self.sampler.start()
            else:
                self.sampler.wake.set()

    def remove_sampling(self, key: int) -> None:
        with self.lock:
            entry = self.sampled.get(key)
            sampler = self.sampler
        if entry is not None and sampler is not None and not entry[3].is_set():
            sampler.wake.set()
            entry[3].wait(FIRST_SAMPLE_WAIT)  # bounded: a stuck NVML must not hang close()
        with self.lock:
            self.sampled.pop(key, None)
            if not self.sampled and self.sampler is not None:
                self.sampler.stop = True
                self.sampler.wake.set()
                self.sampler = None

    def due(self, now: float) -> tuple[list[tuple[Any, threading.Event]], float]:
        """The runs due for a sample now (sink, first-sample event), and the seconds until the
        next one."""
        with self.lock:
            runs, wait = [], 3600.0
            for sink, interval, nxt, sampled in self.sampled.values():
                if nxt[0] <= now:
                    runs.append((sink, sampled))
                    nxt[0] = max(nxt[0] + interval, now + interval / 2)
                wait = min(wait, nxt[0] - now)
            return runs, max(0.0, wait)


def _samplers(disk_path: str) -> tuple[Any, Any]:
    """psutil's and NVML's samplers, made in the calling thread (the run's constructor).

    Not in the sampler thread, though that would take ~30 ms of imports off the first Run():
    CPython forgets that the main thread died of an unhandled KeyboardInterrupt (and exits 1
    instead of by SIGINT) when any thread runs exec() afterwards, and importing psutil does
    (namedtuple). NVML itself starts lazily, at the first sample, in the sampler thread.
    """
    stats: Any = None
    gpus: Any = None
    try:
        from aim.integrations.system_metrics import SystemStats

        stats = SystemStats(disk_path)
    except Exception as exc:  # e.g. psutil unusable on this platform
        _log.debug("aim: system tracking unavailable: %s", exc)
    try:
        from aim.integrations.gpu import GpuSampler

        gpus = GpuSampler.shared()
        try:
            import pynvml  # noqa: F401 - imported here for the reason above; nvmlInit comes later
        except ImportError:
            pass
    except Exception as exc:  # GPUs are optional
        _log.debug("aim: GPU tracking unavailable: %s", exc)
    return stats, gpus


class _Sampler(threading.Thread):
    """The process's one system sampler: psutil (and NVML) read once, fanned out to the runs."""

    def __init__(self, hub: _Hub, stats: Any, gpus: Any) -> None:
        super().__init__(name="aim-system-sampler", daemon=True)
        self.hub, self.stats, self.gpus = hub, stats, gpus
        self.wake = threading.Event()
        self.stop = False

    def run(self) -> None:
        stats, gpus = self.stats, self.gpus
        while not self.stop:
            runs, wait = self.hub.due(time.monotonic())
            if runs:
                samples = stats.sample(time.monotonic()) if stats is not None else []
                if gpus is not None and gpus.available:
                    samples += gpus.sample()
                for sink, sampled in runs:
                    sink.record_samples(samples)
                    sampled.set()
            self.wake.wait(wait)
            self.wake.clear()


_hub = _Hub()
FIRST_SAMPLE_WAIT = 2.0  # seconds a closing run waits for its first system sample


def add_run(key: int, sink: Any, interval: float | None, terminal: bool, disk_path: str) -> None:
    """Start capturing what a run asked for, into its ``sink`` (``key``: the run's id)."""
    if interval is not None:
        _hub.add_sampling(key, sink, interval, disk_path)
    if terminal:
        _hub.add_terminal(key, sink, os.environ.get("AIM_CAPTURE_MODE", "auto"))


def remove_run(key: int) -> None:
    """Stop capturing for a run; the last run out stops the sampler and restores the streams."""
    _hub.remove_sampling(key)
    _hub.remove_terminal(key)


def _reset_in_child() -> None:
    # After fork the threads are gone; the child's runs start their own capture. The inherited
    # descriptors 1 and 2 still lead to the parent's capture, which records the child's output.
    global _hub
    _hub = _Hub()


os.register_at_fork(after_in_child=_reset_in_child)
