"""Helpers shared by the tracked objects: type checks that import nothing, and the size limit.

An object can only be a numpy array (a torch tensor, a PIL image...) if its package is already
imported, so the checks look in ``sys.modules`` and never import a heavy package themselves.
"""

from __future__ import annotations

import sys
from typing import Any

from aim.sdk.objects import base


def is_instance_of(obj: Any, module: str, attr_path: str) -> bool:
    """Whether ``obj`` is an instance of ``module.attr_path``, if ``module`` is already imported."""
    mod = sys.modules.get(module)
    if mod is None:
        return False
    cls: Any = mod
    for part in attr_path.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            return False
    return isinstance(cls, type) and isinstance(obj, cls)


def is_numpy_array(obj: Any) -> bool:
    """Whether ``obj`` is a ``numpy.ndarray``."""
    return is_instance_of(obj, "numpy", "ndarray")


def is_torch_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.Tensor`` (a ``Parameter`` included)."""
    return is_instance_of(obj, "torch", "Tensor")


def torch_to_numpy(tensor: Any) -> Any:
    """A torch tensor's values as a numpy array: detached from autograd, moved to the CPU."""
    return tensor.detach().cpu().numpy()


def check_size(what: str, data: bytes) -> None:
    """Refuse a blob over ``base.MAX_BLOB_BYTES`` (read at the call, so a test can lower it)."""
    limit = base.MAX_BLOB_BYTES
    if len(data) > limit:
        raise ValueError(f"{what} is {len(data)} bytes once encoded, over the {limit}-byte limit per object")


def type_name(obj: Any) -> str:
    """``module.QualName`` of ``obj``'s type, for error messages."""
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
