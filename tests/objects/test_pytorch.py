"""aim.pytorch: track_params_dists / track_gradients_dists against a fake run that records calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from aim.pytorch import track_gradients_dists, track_params_dists
from aim.sdk.objects import Distribution


class FakeRun:
    """Records ``run.track`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, dict[str, str]]] = []

    def track(self, value: Any, name: str, context: dict[str, str]) -> None:
        self.calls.append((value, name, context))


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8),
        nn.ReLU(),
        nn.Sequential(nn.Linear(8, 3, bias=False), nn.Tanh()),
    )


def test_track_params_dists_names_contexts_and_counts():
    m, run = model(), FakeRun()
    track_params_dists(m, run)
    got = [(name, ctx) for _, name, ctx in run.calls]
    assert got == [
        ("0.Linear", {"type": "data", "params": "weights"}),
        ("0.Linear", {"type": "data", "params": "biases"}),
        ("2.Sequential__0.Linear", {"type": "data", "params": "weights"}),
    ]
    tensors = [m[0].weight, m[0].bias, m[2][0].weight]
    for (dist, _, _), t in zip(run.calls, tensors, strict=True):
        assert isinstance(dist, Distribution) and dist.bin_count == 64
        counts, edges = np.histogram(t.detach().numpy(), bins=64)
        np.testing.assert_array_equal(dist.weights, counts)
        assert dist.range == [float(edges[0]), float(edges[-1])]


def test_track_gradients_dists_after_backward_only():
    m, run = model(), FakeRun()
    track_gradients_dists(m, run)
    assert run.calls == []  # no gradients yet
    m(torch.randn(5, 4)).sum().backward()
    track_gradients_dists(m, run)
    assert [(name, ctx["type"], ctx["params"]) for _, name, ctx in run.calls] == [
        ("0.Linear", "gradients", "weights"),
        ("0.Linear", "gradients", "biases"),
        ("2.Sequential__0.Linear", "gradients", "weights"),
    ]
    counts = np.histogram(m[0].weight.grad.numpy(), bins=64)[0]
    np.testing.assert_array_equal(run.calls[0][0].weights, counts)


def test_custom_module_names_and_frozen_layers():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(1, 2, 3))
            self.head = nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(x).mean(dim=(2, 3)))

    net, run = Net(), FakeRun()
    net.head.requires_grad_(False)
    net(torch.randn(2, 1, 5, 5)).sum().backward()
    track_params_dists(net, run)
    assert [n for _, n, _ in run.calls] == ["encoder.Sequential__0.Conv2d"] * 2 + ["head.Linear"] * 2
    run.calls.clear()
    track_gradients_dists(net, run)
    assert [n for _, n, _ in run.calls] == ["encoder.Sequential__0.Conv2d"] * 2  # the frozen head has none
