"""What runs capture by default, shared by every run of the process: one system sampler
thread and one terminal capture, fanned out to the runs that asked for them.

Samples and log lines reach a run through ``RunBase._record_samples`` / ``_record_log_line``,
which append under the run's lock and never wait for room: capture never blocks a run, and a
run's full buffer never blocks the capture (nor, through it, the user's ``print``).

The hub holds runs by weak reference: capturing for a run must not keep it alive, so that a run
whose last reference is gone is closed (``RunBase.__del__``), as in Aim.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

from aim.integrations.terminal import TerminalCapture

_log = logging.getLogger("aim")


class _Hub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.switch = threading.Lock()
        # id -> (weak run, interval, [next due])
        self.sampled: dict[int, tuple[weakref.ref[Any], float, list[float]]] = {}
        self.sampler: _Sampler | None = None
        self.captured: dict[int, weakref.ref[Any]] = {}
        self.terminal: TerminalCapture | None = None

    # --- terminal ------------------------------------------------------------------------------
    # ``switch`` serializes starting and stopping the capture; ``lock`` guards the run tables
    # (the pump threads take only ``lock``, so stopping, which waits for them, holds ``switch``).
    def add_terminal(self, run: Any, mode: str = "auto") -> None:
        with self.switch:
            with self.lock:
                self.captured[id(run)] = weakref.ref(run)
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

    def remove_terminal(self, run: Any) -> None:
        with self.switch:
            with self.lock:
                if id(run) not in self.captured:
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
                self.captured.pop(id(run), None)

    def _on_line(self, stream: str, line: str, partial: bool, ts: float) -> None:
        with self.lock:
            refs = list(self.captured.values())
        for ref in refs:
            run = ref()
            if run is not None:
                run._record_log_line(stream, line, partial)
            del run  # not held across the next line: a run nobody else holds is closed now

    # --- system metrics ------------------------------------------------------------------------
    def add_sampling(self, run: Any, interval: float, disk_path: str) -> None:
        with self.lock:
            first = time.monotonic()  # the first sample at the start, as Aim takes it
            self.sampled[id(run)] = (weakref.ref(run), interval, [first])
            if self.sampler is None or not self.sampler.is_alive():
                self.sampler = _Sampler(self, *_samplers(disk_path))
                self.sampler.start()
            else:
                self.sampler.wake.set()

    def remove_sampling(self, run: Any) -> None:
        with self.lock:
            self.sampled.pop(id(run), None)
            if not self.sampled and self.sampler is not None:
                self.sampler.stop = True
                self.sampler.wake.set()
                self.sampler = None

    def due(self, now: float) -> tuple[list[Any], float]:
        """The runs due for a sample now, and the seconds until the next one is due."""
        with self.lock:
            runs, wait = [], 3600.0
            for ref, interval, nxt in self.sampled.values():
                if nxt[0] <= now:
                    run = ref()
                    if run is not None:
                        runs.append(run)
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
                while runs:
                    runs.pop()._record_samples(samples)
            # No strong reference survives to the wait: an unreferenced run is closed meanwhile.
            del runs
            self.wake.wait(wait)
            self.wake.clear()


_hub = _Hub()


def add_run(run: Any, interval: float | None, terminal: bool, disk_path: str) -> None:
    """Start capturing for ``run`` what it asked for."""
    if interval is not None:
        _hub.add_sampling(run, interval, disk_path)
    if terminal:
        _hub.add_terminal(run, os.environ.get("AIM_CAPTURE_MODE", "auto"))


def remove_run(run: Any) -> None:
    """Stop capturing for ``run``; the last run out stops the sampler and restores the streams."""
    _hub.remove_sampling(run)
    _hub.remove_terminal(run)


def _reset_in_child() -> None:
    # After fork the threads are gone; the child's runs start their own capture. The inherited
    # descriptors 1 and 2 still lead to the parent's capture, which records the child's output.
    global _hub
    _hub = _Hub()


os.register_at_fork(after_in_child=_reset_in_child)
