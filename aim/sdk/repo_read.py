"""Aim's read API on a repository (existence, counts, sequence and param info).

Names and shapes are Aim 3.29's (``aim/sdk/repo.py``), answered from the index: no run's log
is read. As in Aim, the sequence and param info covers every run still in the repository,
deleted ones included until ``prune`` removes them (the registry's rule).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

import orjson

from aim.core import events as ev
from aim.storage.hashes import is_run_hash
from aim.storage.layout import resolve_aim_dir

if TYPE_CHECKING:
    from aim.sdk.object_query import QueryObjectCollection
    from aim.sdk.repo import Repo

# Aim's sequence types (its ``Sequence.registry``), and the object kind each plural names;
# "logs" and "log_records" are valid names with nothing in them (they are not sequences here).
SEQUENCE_TYPES = ("metric", "images", "audios", "distributions", "figures", "texts", "logs", "log_records")
OBJECT_TYPES = {"images": "image", "audios": "audio", "distributions": "distribution", "figures": "figure",
                "texts": "text"}
OBJECT_PLURALS = {kind: plural for plural, kind in OBJECT_TYPES.items()}

# ``Repo.collect_sequence_info``'s answer: ``{type: {name: [context dicts]}}``.
SequenceInfo = dict[str, dict[str, list[dict[str, Any]]]]


def sequence_types_of(sequence_types: str | tuple[str, ...]) -> tuple[str, ...]:
    """``sequence_types`` as a tuple; ``ValueError`` for a name that is not one of Aim's
    sequence types (Aim's message), so a typo is not read as "no sequences"."""
    types = (sequence_types,) if isinstance(sequence_types, str) else tuple(sequence_types)
    for name in types:
        if name not in SEQUENCE_TYPES:
            raise ValueError(f"'{name}' is not a valid Sequence")
    return types


def params_info(params: Any, node: dict[Any, Any]) -> None:
    """Merge one run's params into ``node`` as Aim's ``collect_params_info`` shows them: the
    key tree, each value replaced by ``{"__example_type__": str(type(value))}``; a list by
    ``"<class 'list'>"`` plus its items under integer keys; an empty dict by ``{}``."""
    if isinstance(params, dict):
        for key, value in params.items():
            params_info(value, node.setdefault(key, {}))
    elif isinstance(params, (list, tuple)):
        node["__example_type__"] = str(list)
        for i, value in enumerate(params):
            params_info(value, node.setdefault(i, {}))
    else:
        node["__example_type__"] = str(type(params))


class RepoReadMixin:
    """Read-side methods of ``Repo`` (Aim's names and shapes)."""

    def _repo(self) -> Repo:
        return cast("Repo", self)

    @classmethod
    def exists(cls, path: str | os.PathLike[str]) -> bool:
        """True when there is a repository at ``path`` (the folder holding ``.aim``, or
        ``.aim`` itself): as Aim's, a check that the ``.aim`` folder exists."""
        return resolve_aim_dir(path).is_dir()

    def run_exists(self, run_hash: str) -> bool:
        """True when the run is in the repository and not deleted (a run whose writer has not
        flushed yet counts); False for anything else, a malformed hash included."""
        if not is_run_hash(run_hash):
            return False
        repo = self._repo()
        if not repo.has_run(run_hash):
            return False
        row = repo.index.run_row(run_hash)
        if row is None:  # created, first flush not done yet: exists while its writer holds it
            return repo.layout.is_live(run_hash)
        return not row["deleted"]

    def total_runs_count(self) -> int:
        """How many (not deleted) runs the repository holds: ``len(list_all_runs())``."""
        return len(self._repo().list_all_runs())

    def list_active_runs(self) -> list[str]:
        """Hashes of the runs a live writer is recording (derived status ``running``, runs not
        yet indexed included), oldest first."""
        rows = self._repo().list_runs(include_starting=True)
        return [row["hash"] for row in rows if row["status"] == ev.STATUS_RUNNING]

    def collect_sequence_info(self, sequence_types: str | tuple[str, ...]) -> SequenceInfo:
        """Aim's ``{type: {name: [context dicts]}}`` over the repository (one entry per distinct
        context). Aim's other types than ``"metric"`` give ``{}``; an unknown type raises
        ``ValueError``, as in Aim."""
        out: SequenceInfo = {t: {} for t in sequence_types_of(sequence_types)}
        if "metric" in out:
            for name, context in self._repo().available_sequences():
                out["metric"].setdefault(name, []).append(context)
        if any(t in OBJECT_TYPES for t in out):
            kinds = {kind: plural for plural, kind in OBJECT_TYPES.items() if plural in out}
            for kind, name, context_json in self._repo().index.registry_objects():
                if kind in kinds:
                    out[kinds[kind]].setdefault(name, []).append(orjson.loads(context_json))
        return out

    # --- objects: Aim's query_images, query_texts, ... ----------------------------------------
    def _query_objects(self, kind: str, query: str, report_mode: Any) -> QueryObjectCollection:
        from aim.sdk.object_query import query_objects
        from aim.sdk.query import QueryReportMode

        mode = QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode
        return query_objects(self._repo(), kind, query, mode)

    def query_images(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The image sequences for which the AimQL ``query`` holds (``images.name == "samples"
        and run.hparams.lr > 0.01``), grouped by run."""
        return self._query_objects("image", query, report_mode)

    def query_texts(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The text sequences for which ``query`` holds (``texts.name``...)."""
        return self._query_objects("text", query, report_mode)

    def query_distributions(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The distribution sequences for which ``query`` holds (``distributions.name``...)."""
        return self._query_objects("distribution", query, report_mode)

    def query_audios(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The audio sequences for which ``query`` holds (``audios.name``...)."""
        return self._query_objects("audio", query, report_mode)

    def query_figure_objects(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The figure sequences for which ``query`` holds (``figures.name``...)."""
        return self._query_objects("figure", query, report_mode)

    def collect_params_info(self) -> dict[str, Any]:
        """Aim's param tree for autocomplete: every param key of the repository's runs, each
        leaf ``{"__example_type__": "<class 'float'>"}`` (the type of the newest run's value;
        lists as ``"<class 'list'>"`` with their items under integer keys, an empty dict as
        ``{}``). ``{}`` when no run has params."""
        tree: dict[Any, Any] = {}
        for row in self._repo().list_runs(include_deleted=True):  # oldest first: newest wins
            params_info(row["params"], tree)
        return tree
