"""AimQL: Aim's query language (a Python expression), parsed into an allow-listed tree and
evaluated by a walk over it; never ``eval``. See ``docs/query.md``."""

from aim.core.query.evaluate import MISSING, Queryable, evaluate
from aim.core.query.parse import Query, parse
from aim.core.query.sql import CompiledQuery, compile_query
from aim.core.query.views import MetricsView, RunView, SequenceInfo, SequenceView

__all__ = ["MISSING", "CompiledQuery", "MetricsView", "Query", "Queryable", "RunView", "SequenceInfo",
           "SequenceView", "compile_query", "evaluate", "parse"]
