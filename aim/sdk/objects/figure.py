"""``aim.Figure``: a plotly figure, stored as its JSON (matplotlib figures go through plotly)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from aim.sdk.objects._util import check_size, is_instance_of, type_name
from aim.sdk.objects.base import AimObject

logger = logging.getLogger(__name__)


def _plotly_version() -> str:
    try:
        from plotly.version import __version__  # type: ignore[import-untyped]

        return str(__version__)
    except ImportError:
        return "unknown"


def _from_matplotlib(fig: Any) -> Any:
    """The plotly figure of a matplotlib one, through ``plotly.tools.mpl_to_plotly``."""
    try:
        from plotly.tools import mpl_to_plotly  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("plotly is required to track a matplotlib figure as aim.Figure "
                          "(or track it as aim.Image)") from None
    logger.warning("aim.Figure converts a matplotlib figure through plotly, which may lose parts of it; "
                   "aim.Image keeps it as drawn")
    for ax in fig.axes:  # plotly's exporter calls a method matplotlib 3.3+ no longer has
        for collection in ax.collections:
            if not hasattr(collection, "get_offset_position"):
                collection.get_offset_position = lambda: "screen"
    try:
        with warnings.catch_warnings():  # plotly's exporter uses deprecated matplotlib API
            warnings.simplefilter("ignore", DeprecationWarning)
            return mpl_to_plotly(fig)
    except Exception as exc:  # the exporter fails in many ways on newer matplotlib
        raise ValueError(f"could not convert the matplotlib figure to plotly ({type(exc).__name__}: {exc}); "
                         f"pass a plotly figure, or track it as aim.Image") from exc


class Figure(AimObject):
    """A figure (Aim's ``aim.Figure``), stored as plotly JSON.

    Args:
        obj: a plotly figure, or a matplotlib figure (converted by plotly's ``mpl_to_plotly``).
    """

    kind = "figure"
    compress = True

    def __init__(self, obj: Any) -> None:
        if is_instance_of(obj, "matplotlib.figure", "Figure"):
            obj = _from_matplotlib(obj)
        elif not is_instance_of(obj, "plotly.basedatatypes", "BaseFigure"):
            raise TypeError(f"aim.Figure takes a plotly or matplotlib figure, not {type_name(obj)}")
        text = obj.to_json()
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        check_size("the figure", data)
        self._data = data
        self._version = _plotly_version()

    @property
    def data(self) -> str:
        """The figure's plotly JSON."""
        return self._data.decode("utf-8")

    def to_plotly_figure(self) -> Any:
        """The figure as a ``plotly.graph_objects.Figure``."""
        try:
            from plotly.io import from_json  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError("plotly is required to read an aim.Figure back as a figure") from None
        return from_json(self.data)

    def json(self) -> dict[str, Any]:
        """Aim's metadata dict: source, format and the plotly version that wrote it."""
        return {"source": "plotly", "format": "raw_json", "version": self._version}

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        return self._data, self.json()

    @classmethod
    def _from_stored(cls, data: bytes, meta: dict[str, Any]) -> Figure:
        obj = cls.__new__(cls)
        obj._data = bytes(data)
        obj._version = str(meta.get("version", "unknown"))
        return obj

    def __repr__(self) -> str:
        return f"Figure(plotly {self._version}, {len(self._data)} bytes)"
