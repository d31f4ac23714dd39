"""Aim's PyTorch helpers: ``track_params_dists`` and ``track_gradients_dists``.

Each tracks, per leaf layer of the model (a module without children), a ``Distribution`` of its
``weight`` and of its ``bias`` under the layer's name, as Aim 3.29 does. A layer's name is its
path of ``name.TypeName`` parts joined by ``__``: ``'0.Linear'``, ``'encoder.Sequential__1.Conv2d'``.
Contexts: ``{'type': 'data' | 'gradients', 'params': 'weights' | 'biases'}``. Parameters held by a
module that has children are not tracked (nor is a model that is a single leaf: Aim's behaviour).

Importing this module does not import torch; the model passed in brings it.
"""

from __future__ import annotations

from typing import Any

from aim.sdk.objects.distribution import Distribution

__all__ = ["get_model_layers", "track_gradients_dists", "track_params_dists"]

_PARAMS = (("weight", "weights"), ("bias", "biases"))


def get_model_layers(model: Any, dt: str, parent_name: str | None = None) -> dict[str, dict[str, Any]]:
    """``{layer name: {'weight': tensor, 'bias': tensor}}`` of the model's leaf layers.

    ``dt`` is ``'data'`` (the values) or ``'grad'`` (the gradients; a layer without one has no
    entry for it). The tensors are detached and on the CPU.
    """
    layers: dict[str, dict[str, Any]] = {}
    for name, module in model.named_children():
        layer_name = f"{parent_name}__{name}" if parent_name else name
        layer_name += f".{type(module).__name__}"
        if any(True for _ in module.named_children()):
            layers.update(get_model_layers(module, dt, layer_name))
            continue
        params: dict[str, Any] = {}
        for attr, _ in _PARAMS:
            param = getattr(module, attr, None)
            value = getattr(param, dt, None) if param is not None else None
            if value is not None:
                params[attr] = value.detach().cpu()
        layers[layer_name] = params
    return layers


def _track(model: Any, run: Any, dt: str, context_type: str) -> None:
    for name, params in get_model_layers(model, dt).items():
        for attr, label in _PARAMS:
            if attr in params:
                context = {"type": context_type, "params": label}
                run.track(Distribution(params[attr]), name=name, context=context)


def track_params_dists(model: Any, run: Any) -> None:
    """Track the distribution of every leaf layer's weights and biases (context type ``'data'``)."""
    _track(model, run, "data", "data")


def track_gradients_dists(model: Any, run: Any) -> None:
    """Track the distribution of every leaf layer's gradients (context type ``'gradients'``).

    Call it after ``loss.backward()``; layers without gradients are skipped.
    """
    _track(model, run, "grad", "gradients")
