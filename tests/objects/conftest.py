"""Helpers for the tracked objects' tests."""

from __future__ import annotations

import json
from typing import Any

import matplotlib

matplotlib.use("Agg")

from aim.sdk.objects.base import AimObject


def round_trip(obj: AimObject) -> Any:
    """``obj`` through ``_to_stored`` / JSON metadata / ``_from_stored``, checked equal to itself."""
    data, meta = obj._to_stored()
    assert isinstance(data, bytes)
    text = json.dumps(meta, allow_nan=False)  # JSON-plain, never NaN
    back = type(obj)._from_stored(data, json.loads(text))
    assert back == obj
    assert back._to_stored() == (data, meta)
    assert hash(back) == hash(obj)
    return back
