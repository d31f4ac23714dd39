"""What an import did: the counts every importer reports (``aim convert ... --json``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class SourceError(ValueError):
    """The source named is not a store the importer reads (a missing folder, another tool's
    file, an experiment that is not there): a usage error, said before anything is written.
    ``param``: the argument or option at fault, as the CLI shows it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class ConvertReport:
    """Runs imported now, runs already here (a second import adds nothing), points written,
    source entries skipped (a kind this importer does not map), and source runs that could not
    be read (each with its reason; the others were imported). ``notes``: what the user should
    know that is not an error (a source run still running, left for a later import)."""

    source: str
    location: str
    runs: int = 0
    already: int = 0
    points: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def imported(self, points: int) -> None:
        """One source run imported whole, with its ``points``."""
        self.runs += 1
        self.points += points

    def failed(self, where: str, exc: BaseException) -> None:
        """One source run could not be read (the others go on): ``where`` it was and why, in
        one line."""
        self.errors.append(f"{where}: {one_line(exc)}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)
