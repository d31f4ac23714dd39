"""What ``RunBase`` does with artifacts (``aim/sdk/artifacts.py``): Aim's
``set_artifacts_uri``, ``artifacts_uri``, ``log_artifact``, ``log_artifacts``, ``artifacts``.

The URI and each artifact are events (``artifact.uri``, ``artifact``), so they travel with the
run (copy, upload) and read back from its log, a read-only run's included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.sdk.artifacts import Artifact, ArtifactError, check_name, check_uri, upload


class RunArtifactsMixin:
    """Artifacts of a run (see the module docstring)."""

    hash: str
    read_only: bool

    if TYPE_CHECKING:  # RunBase's and RunReadMixin's; declared, not defined: the MRO finds theirs
        def _record(self, etype: str, payload: dict[str, Any]) -> None: ...

        def _events_of(self, etype: str) -> Iterator[dict[str, Any]]: ...

    def set_artifacts_uri(self, uri: str) -> None:
        """Where this run's artifacts go: ``file:///path`` or ``s3://bucket/prefix`` (each run
        under ``<uri>/<run hash>/``, as in Aim)."""
        uri = check_uri(uri)
        self._record(ev.ARTIFACT_URI, {"uri": uri})
        self.__dict__["_artifacts_uri_base"] = uri

    def _artifacts_base(self) -> str | None:
        if "_artifacts_uri_base" not in self.__dict__:
            base = None
            for event in self._events_of(ev.ARTIFACT_URI):
                base = event.get("uri")
            self.__dict__["_artifacts_uri_base"] = base
        base = self.__dict__["_artifacts_uri_base"]
        return base if isinstance(base, str) else None

    @property
    def artifacts_uri(self) -> str | None:
        """``<uri>/<run hash>``, where this run's artifacts are; None until set."""
        base = self._artifacts_base()
        return None if base is None else f"{base}/{self.hash}"

    def log_artifact(self, path: str, name: str | None = None, *, block: bool = False) -> Artifact:
        """Copy the file at ``path`` to the run's artifact URI as ``name`` (its file name by
        default) and record it. Always completes before returning (``block`` is accepted for
        Aim's signature); a failure raises, with nothing recorded."""
        base = self._artifacts_base()
        if base is None:
            raise ArtifactError("run.artifacts_uri is None: use run.set_artifacts_uri(...) first")
        artifact = upload(path, base, self.hash, check_name(name if name is not None else Path(path).name))
        self._record(ev.ARTIFACT, artifact.json())
        return artifact

    def log_artifacts(self, path: str, name: str | None = None, *, block: bool = False) -> list[Artifact]:
        """Every file under the directory ``path``, as ``<name>/<relative path>`` (``name``: the
        directory's name by default)."""
        folder = Path(path)
        if not folder.is_dir():
            raise ArtifactError(f"{folder} is not a directory")
        prefix = check_name(name if name is not None else folder.name)
        return [self.log_artifact(str(f), f"{prefix}/{f.relative_to(folder).as_posix()}")
                for f in sorted(folder.rglob("*")) if f.is_file()]

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Every logged artifact by name (the last one logged under a name wins)."""
        out: dict[str, Artifact] = {}
        for e in self._events_of(ev.ARTIFACT):
            try:
                out[e["name"]] = Artifact(e["name"], e.get("path", ""), e["uri"], int(e["size"]), e["sha256"])
            except (KeyError, TypeError, ValueError):
                continue  # not an event aim writes: ignored, as readers ignore what they do not know
        return out
