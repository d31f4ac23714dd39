"""The nested param tree: set, get and delete by key path. Pure data, no IO."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

ParamPath = tuple[str, ...]


def as_path(key: str | tuple[str, ...] | list[str]) -> ParamPath:
    """Normalize ``run[key]`` keys: ``"hparams"`` or ``("hparams", "lr")`` → a tuple of str."""
    if type(key) is str and key:
        return (key,)  # the common case, first
    path = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, (tuple, list)) else None
    if not path or not all(isinstance(k, str) and k for k in path):
        raise KeyError(f"param key must be a non-empty str or tuple of str, got {key!r}")
    return path


def set_path(tree: dict[Any, Any], path: Sequence[Any], value: Any) -> None:
    """Set ``value`` at ``path`` (a param path, or any nested dict's keys), creating (or
    replacing non-dict) intermediate nodes."""
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def get_path(tree: dict[str, Any], path: ParamPath) -> Any:
    """Return a deep copy of the value at ``path``; ``KeyError`` when absent."""
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise KeyError(".".join(path))
        node = node[key]
    return copy_tree(node)


# Param leaves: immutable, shared by a copy as they are.
_LEAVES = frozenset({str, int, float, bool, type(None), bytes})


def copy_tree(value: Any) -> Any:
    """A deep copy of a param value (dicts, lists and immutable leaves): several times faster
    than ``copy.deepcopy``, which a listing of many runs' params would spend most time in.
    Leaves are tested inline, not by a call each: ``run.get("hparams")`` over 100k runs."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _LEAVES else copy_tree(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _LEAVES else copy_tree(v) for v in value]
    if kind in _LEAVES:
        return value
    return copy.deepcopy(value)  # a dict or list subclass, a tuple: whatever it holds


def delete_path(tree: dict[str, Any], path: ParamPath) -> bool:
    """Delete the value at ``path``; return False when there was nothing to delete."""
    node: Any = tree
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return False
    if not isinstance(node, dict) or path[-1] not in node:
        return False
    del node[path[-1]]
    return True


def leaf_keys(tree: dict[str, Any], prefix: ParamPath = ()) -> list[str]:
    """Dotted key paths of every leaf (a non-dict value or an empty dict), for autocomplete."""
    out: list[str] = []
    for key, value in tree.items():
        here = (*prefix, key)
        if isinstance(value, dict) and value:
            out.extend(leaf_keys(value, here))
        else:
            out.append(".".join(here))
    return out
