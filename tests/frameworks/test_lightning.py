"""aim.pytorch_lightning: a real Lightning Trainer fits, validates and tests a tiny MLP on the CPU
and the run read back holds its hparams, metrics (contexts, steps, epochs, values) and status."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from argparse import Namespace

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from aim import Repo, Run
from aim.core import events as ev
from aim.pytorch_lightning import AimLogger
from aim.sdk.log import iter_events
from tests.frameworks.conftest import QUIET

TRAIN = {"subset": "train"}
VAL = {"subset": "val"}
TEST = {"subset": "test"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class MLP(pl.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.05, fail_at: int = -1, pause: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
        self.train_losses: list[float] = []

    def training_step(self, batch, batch_idx):
        if batch_idx == self.hparams.fail_at:
            raise RuntimeError("boom in training_step")
        if self.hparams.pause:
            print(f"step-marker {self.global_step}")
            time.sleep(self.hparams.pause)
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.train_losses.append(loss.item())
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y), on_step=False, on_epoch=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(64, 4, generator=g), torch.randint(0, 2, (64,), generator=g))
    return DataLoader(data, batch_size=8, num_workers=0)


def trainer(logger: AimLogger, tmp_path, max_epochs: int = 2) -> pl.Trainer:
    return pl.Trainer(max_epochs=max_epochs, limit_train_batches=4, limit_val_batches=2, log_every_n_steps=1,
                      logger=logger, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)


def test_fit_then_test_records_hparams_metrics_and_status(repo_path, tmp_path):
    logger = AimLogger(repo=str(repo_path), experiment="mlp", run_name="tiny", **QUIET)
    model = MLP()
    tr = trainer(logger, tmp_path)
    tr.fit(model, loader(0), loader(1))
    assert tr.global_step == 8
    (tested,) = tr.test(model, loader(2))

    assert Repo(repo_path).list_all_runs() == [logger.version]  # test() reopened the fit's run
    assert logger.name == "mlp"
    run = Run(logger.version, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FINISHED
    assert (run.experiment, run.name) == ("mlp", "tiny")
    assert run["hparams"] == {"hidden": 8, "lr": 0.05, "fail_at": -1, "pause": 0.0}
    got = [(m.name, dict(m.context)) for m in run.metrics()]
    assert sorted(got, key=str) == sorted([("loss", TRAIN), ("loss", VAL), ("acc", TEST)], key=str)

    train = run.get_metric("loss", TRAIN)
    assert train.steps == list(range(8))  # the trainer's global step when each batch was logged
    assert train.epochs == [0, 0, 0, 0, 1, 1, 1, 1]
    assert train.values == pytest.approx(model.train_losses)
    val = run.get_metric("loss", VAL)
    assert (val.steps, val.epochs) == ([3, 7], [0, 1])
    assert all(0 < v < 5 for v in val.values)
    acc = run.get_metric("acc", TEST)
    assert acc.values == pytest.approx([tested["test_acc"]])


def test_a_training_that_raises_leaves_a_failed_run(repo_path, tmp_path):
    logger = AimLogger(repo=str(repo_path), **QUIET)
    with pytest.raises(RuntimeError, match="boom"):
        trainer(logger, tmp_path, max_epochs=1).fit(MLP(fail_at=2), loader(0), loader(1))
    run = Run(logger.version, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FAILED
    assert run.experiment == "default" == logger.name
    assert run.get_metric("loss", TRAIN).steps == [0, 1]


@pytest.mark.parametrize("lightning_status, status", [
    ("success", ev.STATUS_FINISHED), ("finished", ev.STATUS_FINISHED), ("failed", ev.STATUS_FAILED),
    ("aborted", ev.STATUS_FINISHED), ("", ev.STATUS_FINISHED), ("terminated", ev.STATUS_TERMINATED),
])
def test_finalize_status_maps_to_the_run_status(repo_path, lightning_status, status):
    logger = AimLogger(repo=str(repo_path), **QUIET)
    logger.log_metrics({"train_loss": 1.0}, step=0)
    logger.finalize(lightning_status)
    assert Run(logger.version, repo=repo_path, read_only=True).status == status
    logger.finalize("failed")  # closed already: nothing changes, no new run
    assert Repo(repo_path).list_all_runs() == [logger.version]
    assert Run(logger.version, repo=repo_path, read_only=True).status == status


def _logged(logger: AimLogger, metrics: dict, step: int = 12) -> dict[tuple, float]:
    """Log ``metrics`` at ``step`` (epoch 3), close, and read back {(name, context items): value}."""
    logger.log_metrics({**metrics, "epoch": 3.0}, step=step)
    logger.finalize("success")
    run = Run(logger.version, repo=logger._holder.repo, read_only=True)
    got = {}
    for name, ctx, _run in run.iter_metrics_info():
        seq = run.get_metric(name, ctx)
        assert (seq.steps, seq.epochs) == ([step], [3]), name
        got[name, tuple(sorted(ctx.items()))] = seq.values[0]
    return got


def test_legacy_prefixes_names_epochs_and_merged_hparams(repo_path):
    # Aim's deprecated prefix arguments: a DeprecationWarning, as in Aim; only those prefixes
    # are read (no guessing from suffixes or separators: loss/val and loss_train stay whole).
    with pytest.warns(DeprecationWarning) as warned:
        logger = AimLogger(repo=str(repo_path), train_metric_prefix="tr/", val_metric_prefix=None, **QUIET)
    assert ["train_metric_prefix" in str(w.message) for w in warned] == [True, False]
    assert "val_metric_prefix" in str(warned[1].message) and warned[0].filename == __file__
    logger.log_hyperparams(Namespace(lr=0.1, layers=[2, 3], act=torch.nn.ReLU, dtype=torch.float32))
    logger.log_hyperparams({"lr": 0.2, "seed": 7})  # merged over the first call
    got = _logged(logger, {"tr/loss": torch.tensor(0.5), "val_acc": 0.7, "loss/val": 0.9, "loss_train": 0.3,
                           "test_f1": 0.8, "lr": 0.01, "note": "text"})
    assert Run(logger.version, repo=repo_path, read_only=True)["hparams"] == {
        "lr": 0.2, "layers": [2, 3], "act": "ReLU", "dtype": "torch.float32", "seed": 7}
    assert got == {
        ("loss", (("subset", "train"),)): 0.5,
        ("val_acc", ()): 0.7,  # val_metric_prefix=None: no val prefix
        ("loss/val", ()): 0.9,
        ("loss_train", ()): 0.3,
        ("f1", (("subset", "test"),)): 0.8,
        ("lr", ()): 0.01,  # no prefix: no context; "note" is no number
    }


def test_context_prefixes_and_postfixes_as_aims_docs_show(repo_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new arguments warn of nothing
        logger = AimLogger(repo=str(repo_path), context_prefixes={"subset": {"train": "train_", "val": "val_"}},
                           context_postfixes={"avg": {"weighted": "_weighted", "macro": "_macro"}}, **QUIET)
    got = _logged(logger, {"train_f1_macro": 0.1, "val_f1_weighted": 0.2, "f1_macro": 0.3, "test_acc": 0.4,
                           "train_loss": 0.5})
    assert got == {
        ("f1", (("avg", "macro"), ("subset", "train"))): 0.1,
        ("f1", (("avg", "weighted"), ("subset", "val"))): 0.2,
        ("f1", (("avg", "macro"),)): 0.3,
        ("test_acc", ()): 0.4,  # test_ is not among these prefixes
        ("loss", (("subset", "train"),)): 0.5,
    }


def test_context_prefixes_empty_turns_the_default_off_and_mixing_old_and_new_is_refused(repo_path):
    got = _logged(AimLogger(repo=str(repo_path), context_prefixes={}, **QUIET), {"train_loss": 0.5})
    assert got == {("train_loss", ()): 0.5}
    with pytest.raises(ValueError, match="cannot be used in conjunction"), pytest.warns(DeprecationWarning):
        AimLogger(repo=str(repo_path), train_metric_prefix="tr_", context_prefixes={"phase": {"a": "a_"}})
    # equal to the default, context_prefixes leaves the old arguments in charge (Aim's rule)
    default = {"subset": {"train": "train_", "val": "val_", "test": "test_"}}
    with pytest.warns(DeprecationWarning):
        logger = AimLogger(repo=str(repo_path), val_metric_prefix="v_", context_prefixes=default, **QUIET)
    assert logger.parse_context("v_loss") == ("loss", {"subset": "val"})
    assert logger.parse_context("val_loss") == ("val_loss", {})
    assert default == {"subset": {"train": "train_", "val": "val_", "test": "test_"}}  # not changed


def test_defaults_capture_system_metrics_terminal_output_and_system_params(repo_path, tmp_path):
    logger = AimLogger(repo=str(repo_path), system_tracking_interval=0.2)
    trainer(logger, tmp_path, max_epochs=1).fit(MLP(pause=0.15), loader(0), loader(1))
    run = Run(logger.version, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FINISHED
    names = {name for name, _, _run in run.iter_metrics_info()}
    assert {"__system__cpu", "__system__memory_percent"} <= names
    assert run.get_metric("__system__cpu").values
    assert "argv" in run["__system_params"]
    lines = [e["line"] for e in iter_events(Repo(repo_path).layout.segment_paths(logger.version))
             if e["type"] == "log.line"]
    assert [f"step-marker {i}" for i in range(4)] == [line for line in lines if line.startswith("step-marker")]


def test_missing_lightning_raises_missing_extra_error_naming_the_extra():
    code = (
        "import sys\n"
        "sys.modules['lightning'] = None\n"
        "sys.modules['pytorch_lightning'] = None\n"
        "from aim.errors import MissingExtraError\n"
        "try:\n"
        "    from aim.pytorch_lightning import AimLogger\n"
        "except MissingExtraError as exc:\n"
        "    print(isinstance(exc, ImportError), exc.hint, '|', exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = "True pip install 'aim[lightning]' | aim.pytorch_lightning needs lightning"
    assert out.stdout.startswith(expected), out.stdout
