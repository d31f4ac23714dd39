"""Event type names (DESIGN section 1) and the fields every event carries.

Events read as facts in the past tense (``run.started``, ``param.set``); ``metric`` and ``log.*``
are samples and the deliberate exceptions. Every event is a flat JSON object whose first
fields are ``seq`` (per run, contiguous across segments), ``ts`` (Unix seconds) and ``type``.
"""

from __future__ import annotations

from typing import Final

FORMAT_VERSION: Final = 1

RUN_STARTED: Final = "run.started"
RUN_RESUMED: Final = "run.resumed"
# The first event of a secondary stream: another writer (rank k of a job) joined the run.
STREAM_STARTED: Final = "stream.started"
# Markers (core/history.py): a fork's first own event, after the parent's history it links;
# a rewind, recorded by a writer that resumes at an earlier step.
RUN_FORKED: Final = "run.forked"
RUN_REWOUND: Final = "run.rewound"
RUN_FINISHED: Final = "run.finished"
RUN_DELETED: Final = "run.deleted"
RUN_RESTORED: Final = "run.restored"
PARAM_SET: Final = "param.set"
PARAM_DELETED: Final = "param.deleted"
META_SET: Final = "meta.set"
TAG_ADDED: Final = "tag.added"
TAG_REMOVED: Final = "tag.removed"
METRIC: Final = "metric"
OBJECT: Final = "object"  # an image, text, distribution, audio or figure (its bytes in a blob)
OBJECT_KINDS: Final = frozenset({"image", "text", "distribution", "audio", "figure"})
ARTIFACT_URI: Final = "artifact.uri"  # where the run's artifacts go (set_artifacts_uri)
ARTIFACT: Final = "artifact"  # a file copied there: name, uri, size, sha256
LOG_LINE: Final = "log.line"
LOG_RECORD: Final = "log.record"
# An event the writer could not encode (the net under a bug): it keeps its seq, says what was lost.
EVENT_LOST: Final = "event.lost"

# Fields settable through meta.set; anything else is a programming error.
META_FIELDS: Final = frozenset({"name", "description", "experiment", "archived"})

# Terminal statuses a writer records in run.finished. "running" is the absence of one;
# "crashed" is never written: readers derive it (started, no end, lock free).
STATUS_RUNNING: Final = "running"
STATUS_FINISHED: Final = "finished"
STATUS_FAILED: Final = "failed"
STATUS_TERMINATED: Final = "terminated"
STATUS_CRASHED: Final = "crashed"
END_STATUSES: Final = frozenset({STATUS_FINISHED, STATUS_FAILED, STATUS_TERMINATED})
