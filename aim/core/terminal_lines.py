"""Terminal text → log lines, as a terminal would show them (sans-IO).

A stream's text arrives in arbitrary pieces. ``\\n`` ends a line. ``\\r`` moves back to column 0
and what follows overwrites the line, as on a terminal: a progress bar that redraws itself
10,000 times is one line whose final state is what the terminal showed last. While a line is
being redrawn, its intermediate states are reported at most once per ``redraw_interval``
seconds (``partial``), so that a run that dies mid-bar still shows how far it got; the final
state is reported when the line ends. Everything else is kept exactly as written (ANSI escapes
included).
"""

from __future__ import annotations

MAX_LINE_CHARS = 65_536  # a stream that never writes a newline is cut into lines this long


class LineAssembler:
    """Feed text, get ``(line, partial)`` pairs to record; ``partial`` lines are superseded by
    the next line of the same stream."""

    def __init__(self, redraw_interval: float = 1.0) -> None:
        self.redraw_interval = redraw_interval
        self._line = ""  # what the terminal shows on the current line
        self._col = 0  # the cursor's column in it
        self._redrawn = False  # the current line has seen a \r
        self._dirty = False  # changed since the last partial report
        self._last_partial = float("-inf")

    def feed(self, text: str, now: float) -> list[tuple[str, bool]]:
        """Process ``text`` (read at time ``now``); return the lines to record."""
        out: list[tuple[str, bool]] = []
        start = 0
        n = len(text)
        while start < n:
            nl = text.find("\n", start)
            end = n if nl < 0 else nl
            if start < end:
                self._write(text[start:end], out)
            if nl < 0:
                break
            self._end_line(out)
            start = nl + 1
        if self._redrawn and self._dirty and now - self._last_partial >= self.redraw_interval:
            out.append((self._line, True))
            self._last_partial = now
            self._dirty = False
        return out

    def flush(self) -> list[tuple[str, bool]]:
        """End of the stream: the unfinished line, if any, as a final line."""
        out: list[tuple[str, bool]] = []
        if self._line or self._redrawn:
            self._end_line(out)
        return out

    def _write(self, text: str, out: list[tuple[str, bool]]) -> None:
        # Split on \r: each piece overwrites the line from the cursor.
        pieces = text.split("\r")
        for i, piece in enumerate(pieces):
            if i:
                self._col = 0
                self._redrawn = True
            while piece:
                line, col = self._line, self._col
                room = MAX_LINE_CHARS - col
                head, piece = piece[:room], piece[room:]
                if col == len(line):
                    line += head
                else:
                    line = line[:col] + head + line[col + len(head):]
                self._line, self._col = line, col + len(head)
                self._dirty = True
                if self._col >= MAX_LINE_CHARS:
                    self._end_line(out)

    def _end_line(self, out: list[tuple[str, bool]]) -> None:
        out.append((self._line, False))
        self._line, self._col = "", 0
        self._redrawn = self._dirty = False
        self._last_partial = float("-inf")
