"""A sequence of tracked objects (``run.get_image_sequence(...)``), read back from the log.

The run's ``object`` events of the sequence are folded with the rule every sequence follows
(the last value per step wins); each step's objects are made from their blobs when first
asked for, every blob checked against its SHA-256.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.sdk.metrics import ArrayView
from aim.sdk.objects.base import AimObject
from aim.storage.blobs import RunBlobs

if TYPE_CHECKING:
    from aim.sdk.run_base import RunBase


def object_class(kind: str) -> type[AimObject]:
    """The class of an object kind (``"image"`` -> ``aim.Image``)."""
    from aim.sdk import objects

    classes: dict[str, type[AimObject]] = {
        "image": objects.Image, "text": objects.Text, "distribution": objects.Distribution,
        "audio": objects.Audio, "figure": objects.Figure,
    }
    return classes[kind]


def object_from_item(kind: str, item: dict[str, Any], blobs: RunBlobs) -> AimObject:
    """One object of an ``object`` event, its bytes read from (and checked against) its blob."""
    data = blobs.read(item["sha256"], bool(item.get("zst")))
    return object_class(kind)._from_stored(data, dict(item.get("meta") or {}))


class ObjectSequence:
    """Aim's object sequences (``Images``, ``Texts``, ``Distributions``, ``Audios``,
    ``Figures``): ``name``, ``context``, ``values`` keyed by step (each a list of objects when
    a list was tracked, else one object), ``steps``, ``first_step``/``last_step``, ``items()``."""

    def __init__(self, run: RunBase, kind: str, name: str, context: dict[str, Any], blobs: RunBlobs) -> None:
        self.run = run
        self.kind = kind
        self.name = name
        self.context = context
        self._blobs = blobs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.name!r} {self.context}>"

    @cached_property
    def _events(self) -> dict[int, dict[str, Any]]:
        want = context_key(self.context)
        by_step: dict[int, dict[str, Any]] = {}
        for event in self.run._events_of(ev.OBJECT):
            if (event.get("name") == self.name and event.get("kind") == self.kind
                    and context_key(event.get("context") or {}) == want):
                by_step[event["step"]] = event  # the last value per step wins
        return dict(sorted(by_step.items()))

    @cached_property
    def values(self) -> ArrayView:
        """Each step's value: its objects (a list when a list was tracked), blobs read now."""
        steps = list(self._events)
        out: list[Any] = []
        for event in self._events.values():
            objs = [object_from_item(self.kind, item, self._blobs) for item in event.get("items") or []]
            out.append(objs if event.get("list") else (objs[0] if objs else None))
        return ArrayView(steps, out)

    @property
    def steps(self) -> list[int]:
        """The steps that hold a value, in order."""
        return list(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)

    def items(self) -> list[tuple[int, Any]]:
        """(step, value) pairs."""
        return list(self.values.items())

    @property
    def first_step(self) -> int | None:
        """The lowest step, or None when empty."""
        return next(iter(self._events), None)

    @property
    def last_step(self) -> int | None:
        """The highest step, or None when empty."""
        return list(self._events)[-1] if self._events else None

    def metadata(self) -> list[tuple[int, list[dict[str, Any]]]]:
        """(step, [each object's stored metadata with its blob's SHA-256, size and whether it
        is compressed]) without reading a blob: what a UI lists before it loads anything."""
        return [(step, [{**(i.get("meta") or {}), "sha256": i["sha256"], "size": i["size"],
                         "zst": bool(i.get("zst"))}
                        for i in event.get("items") or []])
                for step, event in self._events.items()]
