"""Terminal capture: a copy of stdout and stderr, while the terminal still shows everything.

Two modes:

- ``fd`` (preferred): file descriptors 1 and 2 are pointed at a pipe (a pseudo-terminal when
  the original was a terminal, so ``isatty()`` and colours do not change), and one pump thread
  per stream copies every byte to the original descriptor first, then hands the text to a
  ``LineAssembler``. This sees ``print``, ``logging``, C extensions writing to fd 1/2 and child
  processes, which inherit the descriptors.
- ``python`` (fallback, e.g. Jupyter, where fd 1 is not what the user sees): ``sys.stdout`` and
  ``sys.stderr`` are wrapped by a tee that writes through and copies the text.

``stop()`` puts everything back: Python's buffers are flushed, the original descriptors are
restored, and the pumps drain what was written before the stop (so a traceback printed just
before a crashed run closes is recorded).
"""

from __future__ import annotations

import codecs
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from aim.core.terminal_lines import LineAssembler

# (stream name, line, partial, timestamp): called from pump threads or the writing thread.
LineSink = Callable[[str, str, bool, float], None]

_STREAMS = (("stdout", 1), ("stderr", 2))
_DRAIN_SECONDS = 1.0  # at stop, how long the pumps may take to read what is left
_log = logging.getLogger("aim")


class TerminalCapture:
    """Tee stdout and stderr into ``sink`` until ``stop()``; ``mode`` is "auto", "fd" or "python"."""

    def __init__(self, sink: LineSink, mode: str = "auto", redraw_interval: float = 1.0) -> None:
        if mode not in ("auto", "fd", "python"):
            raise ValueError(f"capture mode must be 'auto', 'fd' or 'python', got {mode!r}")
        self._sink = sink
        self._requested = mode
        self._redraw_interval = redraw_interval
        self.mode: str | None = None  # the mode in effect while started
        self._pumps: list[_Pump] = []
        self._tees: list[tuple[str, _Tee]] = []

    def start(self) -> None:
        """Start capturing (idempotent)."""
        if self.mode is not None:
            return
        if self._requested in ("auto", "fd"):
            try:
                self._start_fd()
                self.mode = "fd"
                return
            except (OSError, ValueError, AttributeError, _NotRedirectable) as exc:
                if self._requested == "fd":
                    raise
                _log.debug("aim: terminal capture falls back to Python streams (%s)", exc)
        self._start_python()
        self.mode = "python"

    def stop(self) -> None:
        """Stop capturing, restore the streams, and record what was written before the stop."""
        if self.mode is None:
            return
        _flush_python_streams()
        if self.mode == "fd":
            for pump in self._pumps:
                pump.restore()
            deadline = time.monotonic() + _DRAIN_SECONDS
            for pump in self._pumps:
                pump.join(max(0.0, deadline - time.monotonic()))
                # A child process that still holds the pipe keeps the pump forwarding to the
                # terminal; it stops recording now.
                pump.detach()
            self._pumps = []
        else:
            for name, tee in self._tees:
                tee.finish()
                if getattr(sys, name) is tee:  # nobody replaced it after us
                    setattr(sys, name, tee.inner)
            self._tees = []
        self.mode = None

    def rebind(self) -> None:
        """Python mode: tee a stream that replaced ours since ``start()`` (a notebook cell's or a
        test runner's redirect), so a run started now captures what is printed now. The
        earlier tee stays in place under whatever holds it."""
        if self.mode != "python":
            return
        for name, _fd in _STREAMS:
            current = getattr(sys, name)
            if current is None or any(tee is current for _, tee in self._tees):
                continue
            tee = _Tee(name, current, self._sink, self._redraw_interval)
            setattr(sys, name, tee)
            self._tees.append((name, tee))

    def settle(self, timeout: float = 0.5) -> None:
        """Let what was written so far reach the sink (another run goes on capturing).

        Best effort, unlike ``stop()``: waits until the pipes are empty and the pumps idle.
        """
        _flush_python_streams()
        deadline = time.monotonic() + timeout
        for pump in self._pumps:
            while not pump.idle() and time.monotonic() < deadline:
                time.sleep(0.005)

    # --- fd mode -------------------------------------------------------------------------------
    def _start_fd(self) -> None:
        for name, fd in _STREAMS:
            # The stream Python code writes to now (Jupyter replaces it with one that has no
            # descriptor, or one whose descriptor is not what the user sees).
            stream = getattr(sys, name)
            if stream is None or stream.fileno() != fd or type(stream).__module__.startswith("ipykernel"):
                raise _NotRedirectable(f"sys.{name} does not write to file descriptor {fd}")
        _flush_python_streams()
        started: list[_Pump] = []
        try:
            for name, fd in _STREAMS:
                pump = _Pump(name, fd, self._sink, self._redraw_interval)
                pump.redirect()
                started.append(pump)
        except BaseException:
            for pump in started:
                pump.restore()
                pump.join(_DRAIN_SECONDS)
            raise
        for pump in started:
            pump.start()
        self._pumps = started

    # --- python mode ---------------------------------------------------------------------------
    def _start_python(self) -> None:
        for name, _fd in _STREAMS:
            inner = getattr(sys, name)
            if inner is None:  # pythonw, or a daemon that closed its streams
                continue
            tee = _Tee(name, inner, self._sink, self._redraw_interval)
            setattr(sys, name, tee)
            self._tees.append((name, tee))


class _NotRedirectable(Exception):
    pass


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


class _Pump(threading.Thread):
    """One stream in fd mode: owns the redirection of ``fd`` and the thread that copies it."""

    def __init__(self, name: str, fd: int, sink: LineSink, redraw_interval: float) -> None:
        super().__init__(name=f"aim-capture-{name}", daemon=True)
        self.stream, self.fd, self._sink = name, fd, sink
        self._assembler = LineAssembler(redraw_interval)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._saved = -1  # a duplicate of the original descriptor: the terminal
        self._read_fd = -1
        self._recording = True
        self._busy = False
        self._lock = threading.Lock()

    def redirect(self) -> None:
        saved = os.dup(self.fd)
        try:
            if os.isatty(saved):
                read_fd, write_fd = _open_pty_like(saved)
            else:
                read_fd, write_fd = os.pipe()
            os.set_inheritable(write_fd, True)
            os.dup2(write_fd, self.fd)
            os.close(write_fd)
        except BaseException:
            os.close(saved)
            raise
        self._saved, self._read_fd = saved, read_fd

    def restore(self) -> None:
        # The descriptor goes back to the terminal; that closes our end of the pipe, so the
        # pump reads to the end of what was written and stops (unless a child holds it too).
        if self._saved >= 0:
            os.dup2(self._saved, self.fd)

    def idle(self) -> bool:
        """No bytes wait in the pipe and the pump is not processing a chunk."""
        import fcntl
        import termios

        try:
            waiting = int.from_bytes(fcntl.ioctl(self._read_fd, termios.FIONREAD, b"\0" * 4), "little")
        except OSError:
            return True
        return waiting == 0 and not self._busy

    def detach(self) -> None:
        with self._lock:
            self._recording = False

    def run(self) -> None:
        read_fd, saved = self._read_fd, self._saved
        # Wait for data first, mark busy, then read: so "nothing in the pipe and not busy"
        # (idle(), for settle()) never holds while read bytes are still being processed.
        poller = select.poll()
        poller.register(read_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                poller.poll()
                self._busy = True
                try:
                    data = os.read(read_fd, 65536)
                except OSError:  # a pseudo-terminal whose other end is gone reads as EIO
                    data = b""
                if not data:
                    break
                _write_all(saved, data)  # the terminal first: it must never wait on us
                self._record(self._assembler.feed(self._decoder.decode(data), time.time()))
                self._busy = False
            tail = self._decoder.decode(b"", final=True)
            self._record(self._assembler.feed(tail, time.time()) + self._assembler.flush())
        finally:
            os.close(read_fd)
            os.close(saved)

    def _record(self, lines: list[tuple[str, bool]]) -> None:
        if not lines:
            return
        with self._lock:
            if not self._recording:
                return
            now = time.time()
            for line, partial in lines:
                try:
                    self._sink(self.stream, line, partial, now)
                except Exception:  # capture must never break the user's output
                    pass


def _open_pty_like(terminal_fd: int) -> tuple[int, int]:
    """A pseudo-terminal pair whose output is passed through unchanged, sized like ``terminal_fd``."""
    import fcntl
    import termios

    master, slave = os.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST  # no output processing: "\n" must not become "\r\n"
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        size = fcntl.ioctl(terminal_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)  # progress bars size themselves from this
    except (OSError, termios.error):
        pass
    return master, slave


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except InterruptedError:
            continue
        except OSError:
            return  # the terminal went away (closed pipe): keep capturing regardless


class _Tee:
    """Python mode: a text stream that writes through to ``inner`` and copies what it writes."""

    def __init__(self, name: str, inner: TextIO, sink: LineSink, redraw_interval: float) -> None:
        self._name, self.inner, self._sink = name, inner, sink
        self._assembler = LineAssembler(redraw_interval)
        self._lock = threading.Lock()
        self._recording = True

    def write(self, text: str) -> int:
        n = self.inner.write(text)
        if isinstance(text, str) and text:
            with self._lock:
                if self._recording:
                    now = time.time()
                    for line, partial in self._assembler.feed(text, now):
                        try:
                            self._sink(self._name, line, partial, now)
                        except Exception:  # capture must never break output
                            pass
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def finish(self) -> None:
        with self._lock:
            now = time.time()
            for line, partial in self._assembler.flush():
                try:
                    self._sink(self._name, line, partial, now)
                except Exception:
                    pass
            self._recording = False

    def __getattr__(self, attr: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self.inner, attr)
