"""aim.hugging_face: a real Transformers Trainer trains and evaluates a tiny randomly initialised
BERT (built from a config: nothing is downloaded) on the CPU, and the run read back holds the
training arguments, the model config, the logged metrics (contexts, steps, epochs, values)
and its status."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from aim import Repo, Run
from aim.core import events as ev
from aim.hugging_face import AimCallback
from aim.sdk.log import iter_events
from tests.conftest import ROOT
from tests.frameworks.conftest import QUIET

NONE: dict = {}  # Aim's context for a name with no train_/eval_/test_ prefix
TRAIN = {"subset": "train"}
EVAL = {"subset": "eval"}
TEST = {"subset": "test"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class RandomIds(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 100, (n, 8), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long),
                "labels": self.labels[i]}


class Pause(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.1)


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=16, num_labels=2))


def make_trainer(callbacks: list, tmp_path, max_steps: int = 6, eval_steps: int = 3,
                 eval_dataset: object = None) -> Trainer:
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=max_steps, per_device_train_batch_size=4,
        per_device_eval_batch_size=4, learning_rate=1e-3, logging_steps=1, eval_strategy="steps",
        eval_steps=eval_steps, report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True, seed=3)
    return Trainer(model=tiny_bert(), args=args, train_dataset=RandomIds(16, 1),
                   eval_dataset=eval_dataset or RandomIds(8, 2), callbacks=callbacks)


def test_train_evaluate_records_args_model_metrics_and_status(repo_path, tmp_path):
    cb = AimCallback(repo=str(repo_path), experiment="bert", run_name="tiny", **QUIET)
    trainer = make_trainer([cb], tmp_path)
    cb.run["hparams"] = {"dataset": "random ids"}  # the user's own keys stay (set key by key, as Aim)
    trainer.train()
    assert Run(cb.run_hash, repo=repo_path, read_only=True).status == ev.STATUS_FINISHED  # closed at train end
    history = list(trainer.state.log_history)
    trainer.evaluate(RandomIds(8, 3), metric_key_prefix="test")  # reopens the run
    cb.close()

    assert Repo(repo_path).list_all_runs() == [cb.run_hash]
    run = Run(cb.run_hash, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FINISHED
    assert (run.experiment, run.name) == ("bert", "tiny")
    hparams = run["hparams"]
    assert (hparams["learning_rate"], hparams["per_device_train_batch_size"]) == (1e-3, 4)
    assert hparams["max_steps"] == 6
    assert (hparams["train_batch_size"], hparams["seed"], hparams["report_to"]) == (4, 3, [])
    assert hparams["dataset"] == "random ids"
    model = run["model"]
    assert (model["hidden_size"], model["num_hidden_layers"], model["vocab_size"]) == (32, 2, 100)
    assert model["num_labels"] == 2  # as Aim adds it
    assert model["num_parameters"] == trainer.model.num_parameters() > 0

    # Aim's shapes: a train_/eval_/test_ prefix is taken off into the subset, other names stay
    # as they are without context (the Trainer's per-step loss, grad_norm, learning_rate, epoch).
    contexts = {(name, ctx.get("subset")) for name, ctx, _run in run.iter_metrics_info()}
    assert {("loss", None), ("grad_norm", None), ("learning_rate", None), ("epoch", None), ("total_flos", None),
            ("loss", "eval"), ("runtime", "eval"), ("runtime", "train"), ("loss", "train"),
            ("loss", "test")} <= contexts
    assert not {name for name, _ in contexts} & {"eval_loss", "train_loss", "test_loss", "mean_loss"}
    assert all(ctx in (NONE, TRAIN, EVAL, TEST) for _, ctx, _run in run.iter_metrics_info())

    loss = run.get_metric("loss", NONE)
    assert loss.steps == [1, 2, 3, 4, 5, 6]  # state.global_step, logging_steps=1
    assert loss.values == pytest.approx([h["loss"] for h in history if "loss" in h])
    assert loss.epochs == [int(h["epoch"]) for h in history if "loss" in h] == [0, 0, 0, 1, 1, 1]
    lr = run.get_metric("learning_rate", NONE)
    assert lr.values == pytest.approx([h["learning_rate"] for h in history if "learning_rate" in h])
    epoch = run.get_metric("epoch", NONE)  # the fractional epoch, as the Trainer logs it
    assert epoch.values[-1] == pytest.approx(history[-1]["epoch"]) and 0 < epoch.values[0] < 1
    eval_loss = run.get_metric("loss", EVAL)
    assert (eval_loss.steps, eval_loss.epochs) == ([3, 6], [0, 1])
    assert eval_loss.values == pytest.approx([h["eval_loss"] for h in history if "eval_loss" in h])
    mean = run.get_metric("loss", TRAIN)  # the summary's train_loss: the mean over the training
    assert (mean.steps, mean.values) == ([6], [pytest.approx(history[-1]["train_loss"])])
    assert run.get_metric("loss", TEST).steps == [6]


def test_several_eval_data_sets_get_aims_sub_dataset(repo_path, tmp_path):
    cb = AimCallback(repo=str(repo_path), **QUIET)
    trainer = make_trainer([cb], tmp_path, max_steps=2, eval_steps=2,
                           eval_dataset={"short": RandomIds(4, 2), "long_set": RandomIds(8, 3)})
    trainer.train()
    history = trainer.state.log_history

    run = Run(cb.run_hash, repo=repo_path, read_only=True)
    evals = {(name, ctx["sub_dataset"]) for name, ctx, _run in run.iter_metrics_info() if "sub_dataset" in ctx}
    expected = {"loss", "runtime", "samples_per_second", "steps_per_second"}
    assert evals == {(name, data) for name in expected for data in ("short", "long_set")}
    for data in ("short", "long_set"):
        seq = run.get_metric("loss", {"subset": "eval", "sub_dataset": data})
        assert seq.steps == [2]
        key = f"eval_{data}_loss"
        assert seq.values == pytest.approx([h[key] for h in history if key in h])


def test_log_names_contexts_epoch_and_process_zero(repo_path, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    control = TrainerControl()
    other = AimCallback(repo=str(repo_path), **QUIET)
    other.on_log(args, TrainerState(global_step=2, epoch=0.5, is_world_process_zero=False), control,
                 logs={"loss": 1.0})
    other.on_train_begin(args, TrainerState(is_world_process_zero=False), control, model=tiny_bert())
    assert other.run_hash is None and not (repo_path / ".aim").exists()  # other processes never write

    cb = AimCallback(repo=str(repo_path), experiment="unit", **QUIET)
    state = TrainerState(global_step=7, epoch=1.75, is_world_process_zero=True)
    logs = {"loss": torch.tensor(0.25), "eval_accuracy": 0.5, "test_f1": 0.75, "total_flos": 12.0,
            "epoch": 1.75, "note": "text", "eval_confusion": [1, 2]}
    cb.on_log(args, state, control, logs=logs)
    state.epoch = None
    state.global_step = 8
    cb.on_log(args, state, control, logs={"loss": 0.125})
    cb.on_train_end(args, state, control)

    run = Run(cb.run_hash, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FINISHED
    got = {(name, ctx.get("subset")): run.get_metric(name, ctx) for name, ctx, _run in run.iter_metrics_info()}
    assert set(got) == {("loss", None), ("accuracy", "eval"), ("f1", "test"), ("total_flos", None),
                        ("epoch", None)}
    assert (got["loss", None].steps, got["loss", None].values) == ([7, 8], [0.25, 0.125])
    assert got["loss", None].epochs == [1, None]
    assert (got["accuracy", "eval"].steps, got["accuracy", "eval"].epochs) == ([7], [1])
    assert got["epoch", None].values == [1.75]


A_EVAL = (("sub_dataset", "a"), ("subset", "eval"))


@pytest.mark.parametrize("logs, expected", [
    # an evaluation of data set "a" of several: Aim's sub_dataset, read from eval_a_runtime
    # (Aim's guess from common substrings tracks "mples_per_second" here)
    ({"eval_a_loss": 1.0, "eval_a_runtime": 0.1, "eval_a_samples_per_second": 9.0, "epoch": 1.0},
     {("loss", A_EVAL), ("runtime", A_EVAL), ("samples_per_second", A_EVAL), ("epoch", ())}),
    ({"eval_loss": 1.0, "eval_runtime": 0.1, "eval_my_precision": 0.5, "epoch": 1.0},
     {("loss", (("subset", "eval"),)), ("runtime", (("subset", "eval"),)),
      ("my_precision", (("subset", "eval"),)), ("epoch", ())}),
    # trainer.log({"eval_my_precision": ...}) alone: Aim's guess makes it "cision" in
    # {"subset": "eval", "sub_dataset": "e"} (and raises on a log of one key)
    ({"eval_my_precision": 0.5, "epoch": 1.0}, {("my_precision", (("subset", "eval"),)), ("epoch", ())}),
    ({"test_my_f1": 0.5}, {("my_f1", (("subset", "test"),))}),
    # the training summary
    ({"train_runtime": 2.0, "train_loss": 0.7, "total_flos": 3.0},
     {("runtime", (("subset", "train"),)), ("loss", (("subset", "train"),)), ("total_flos", ())}),
])
def test_names_and_contexts_as_aim_reads_them(repo_path, logs, expected):
    cb = AimCallback(repo=str(repo_path), **QUIET)
    args = TrainingArguments(output_dir=str(repo_path / "out"), report_to="none", use_cpu=True)
    state = TrainerState(global_step=1, epoch=1.0, is_world_process_zero=True)
    cb.on_log(args, state, TrainerControl(), logs=logs)
    cb.close()
    run = Run(cb.run_hash, repo=repo_path, read_only=True)
    assert {(name, tuple(sorted(ctx.items()))) for name, ctx, _run in run.iter_metrics_info()} == expected


def test_defaults_capture_system_metrics_terminal_output_and_system_params(repo_path, tmp_path):
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=0.2)
    make_trainer([cb, Pause()], tmp_path, max_steps=4).train()  # disable_tqdm: the Trainer prints its logs
    run = Run(cb.run_hash, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FINISHED
    assert {"__system__cpu", "__system__memory_percent"} <= {name for name, _, _run in run.iter_metrics_info()}
    assert "argv" in run["__system_params"]
    lines = [e["line"] for e in iter_events(Repo(repo_path).layout.segment_paths(cb.run_hash))
             if e["type"] == "log.line"]
    assert any("'eval_loss'" in line for line in lines), lines
    assert sum(line.startswith("{'loss'") for line in lines) == 4, lines


def test_an_uncaught_training_error_leaves_a_failed_run(repo_path):
    # Transformers has no hook for a failed training: aim's exception hook closes the run.
    code = f"""
import sys, torch
sys.path.insert(0, {str(ROOT)!r})
from transformers import Trainer, TrainingArguments, TrainerCallback
from aim.hugging_face import AimCallback
from tests.frameworks.test_transformers import QUIET, RandomIds, tiny_bert
class Boom(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise RuntimeError("boom")
cb = AimCallback(repo={str(repo_path)!r}, **QUIET)
args = TrainingArguments(output_dir={str(repo_path / "out")!r}, max_steps=4, logging_steps=1, report_to="none",
                         use_cpu=True, save_strategy="no", disable_tqdm=True, per_device_train_batch_size=4)
Trainer(model=tiny_bert(), args=args, train_dataset=RandomIds(16, 1), callbacks=[cb, Boom()]).train()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 1 and "RuntimeError: boom" in out.stderr, out.stderr[-2000:]
    (run_hash,) = Repo(repo_path).list_all_runs()
    run = Run(run_hash, repo=repo_path, read_only=True)
    assert run.status == ev.STATUS_FAILED
    assert run.get_metric("loss", NONE).steps == [1]


def test_missing_transformers_raises_missing_extra_error_naming_the_extra():
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "from aim.errors import MissingExtraError\n"
        "try:\n"
        "    from aim.hugging_face import AimCallback\n"
        "except MissingExtraError as exc:\n"
        "    print(isinstance(exc, ImportError), exc.hint, '|', exc)\n"
        "else:\n"
        "    print('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = "True pip install 'aim[hugging-face]' | aim.hugging_face needs transformers"
    assert out.stdout.startswith(expected), out.stdout
