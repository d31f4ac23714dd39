"""aim.keras: a real Keras fit (torch backend, CPU) recorded in a run, read back by hash."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported (no TensorFlow here)

import subprocess
import sys

import keras
import numpy as np
import pytest

from aim import Run
from aim.integrations.system_params import SYSTEM_PARAMS_KEY
from aim.keras import AimCallback

EPOCHS = 3
BATCH = 32
ROWS = 96  # 3 batches an epoch


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS + 32, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], dtype="float32") > 0).astype("float32")[:, None]
    return x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:]


def _model(optimizer: keras.optimizers.Optimizer, metrics: tuple = ()) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy", *metrics])
    return model


def test_fit_records_params_and_epoch_metrics_per_subset_then_finishes(repo_path):
    x, y, xv, yv = _data()
    # A metric whose own name starts with a subset word: Aim reads only Keras' val_ prefix.
    mae = keras.metrics.MeanAbsoluteError(name="test_mae")
    model = _model(keras.optimizers.Adam(learning_rate=0.01), (mae,))
    cb = AimCallback(repo=str(repo_path), experiment="keras-exp", run_name="dense")
    history = model.fit(x, y, validation_data=(xv, yv), epochs=EPOCHS, batch_size=BATCH, verbose=0,
                        callbacks=[cb])

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert (run.experiment, run.name) == ("keras-exp", "dense")
    hparams = run["hparams"]
    assert hparams["epochs"] == EPOCHS and hparams["steps"] == ROWS // BATCH
    assert "verbose" not in hparams
    assert hparams["optimizer"]["name"] == "adam"
    assert hparams["optimizer"]["learning_rate"] == 0.01  # float32 0.01, spelt as the user did
    assert hparams["optimizer"]["beta_1"] == pytest.approx(0.9)
    assert hparams["learning_rate"] == 0.01
    assert isinstance(run.get(SYSTEM_PARAMS_KEY), dict)  # log_system_params is on by default

    user_metrics = {(n, tuple(sorted(c.items()))) for n, c, _run in run.iter_metrics_info()
                    if not n.startswith("__system__")}
    assert user_metrics == {  # Aim's shapes: val_ taken off into val, every other name as it is in train
        ("loss", (("subset", "train"),)), ("accuracy", (("subset", "train"),)),
        ("loss", (("subset", "val"),)), ("accuracy", (("subset", "val"),)),
        ("test_mae", (("subset", "train"),)), ("test_mae", (("subset", "val"),)),
        ("lr", (("subset", "train"),)),
    }
    for key, subset, name in [("loss", "train", "loss"), ("val_loss", "val", "loss"),
                              ("accuracy", "train", "accuracy"), ("val_accuracy", "val", "accuracy"),
                              ("test_mae", "train", "test_mae"), ("val_test_mae", "val", "test_mae")]:
        seq = run.get_metric(name, {"subset": subset})
        assert list(seq.steps) == [0, 1, 2]
        assert list(seq.epochs) == [0, 1, 2]
        assert list(seq.values) == pytest.approx(history.history[key])
    assert list(run.get_metric("lr", {"subset": "train"}).values) == pytest.approx([0.01] * EPOCHS)


def test_evaluate_and_a_second_fit_reopen_the_same_run(repo_path):
    x, y, xv, yv = _data(1)
    model = _model(keras.optimizers.SGD(learning_rate=0.1))
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, log_system_params=False,
                     capture_terminal_logs=False)
    model.fit(x, y, validation_data=(xv, yv), epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[cb])
    first_hash = cb.run_hash
    assert Run(first_hash, repo=str(repo_path), read_only=True).status == "finished"

    results = model.evaluate(xv, yv, verbose=0, callbacks=[cb], return_dict=True)
    run = Run(first_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    test_loss = run.get_metric("loss", {"subset": "test"})
    assert list(test_loss.steps) == [0]
    assert list(test_loss.epochs) == [EPOCHS - 1]  # the model after the last epoch trained
    assert list(test_loss.values) == pytest.approx([results["loss"]])
    # fit's own validation passes went in as val_*, not as test
    assert list(run.get_metric("loss", {"subset": "val"}).steps) == [0, 1, 2]

    history = model.fit(x, y, initial_epoch=EPOCHS, epochs=EPOCHS + 2, batch_size=BATCH, verbose=0,
                        callbacks=[cb])
    assert cb.run_hash == first_hash
    run = Run(first_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert run["hparams"]["epochs"] == EPOCHS + 2
    loss = run.get_metric("loss", {"subset": "train"})
    assert (list(loss.steps), list(loss.epochs)) == ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    assert list(loss.values)[3:] == pytest.approx(history.history["loss"])

    # A fit that counts its epochs from 0 again goes on after the first (steps are the run's,
    # as in Aim) instead of writing over it.
    again = model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[cb])
    loss = Run(first_hash, repo=str(repo_path), read_only=True).get_metric("loss", {"subset": "train"})
    assert (list(loss.steps), list(loss.epochs)) == ([0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 0, 1])
    assert list(loss.values)[5:] == pytest.approx(again.history["loss"])


def test_log_batches_tracks_a_global_batch_step_apart_from_epochs_and_a_schedule_shows(repo_path):
    x, y, _, _ = _data(2)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=ROWS // BATCH, decay_rate=0.5)
    model = _model(keras.optimizers.SGD(learning_rate=schedule))
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, log_batches=True)
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[cb])

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    batches = run.get_metric("loss", {"subset": "train", "scope": "batch"})
    per_epoch = ROWS // BATCH
    assert list(batches.steps) == list(range(EPOCHS * per_epoch))
    assert list(batches.epochs) == [e for e in range(EPOCHS) for _ in range(per_epoch)]
    # Keras' batch logs are running means: the epoch's last batch equals the epoch's value
    epochs = run.get_metric("loss", {"subset": "train"})
    assert list(batches.values)[per_epoch - 1::per_epoch] == pytest.approx(list(epochs.values))
    assert run["hparams"]["optimizer"]["learning_rate"]["config"]["initial_learning_rate"] == 0.1
    assert list(run.get_metric("lr", {"subset": "train"}).values) == pytest.approx([0.05, 0.025, 0.0125])


def test_a_fit_that_raises_leaves_the_run_for_close(repo_path):
    x, y, _, _ = _data(3)
    model = _model(keras.optimizers.SGD(learning_rate=0.1))
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None)

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[cb, Boom()])
    assert cb.run.status == "running"
    cb.close("failed")
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "failed"
    assert list(run.get_metric("loss", {"subset": "train"}).steps) == [0, 1]
    model.evaluate(x, y, verbose=0, callbacks=[cb])  # tracked again after close()
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    test_loss = run.get_metric("loss", {"subset": "test"})
    assert (list(test_loss.steps), list(test_loss.epochs)) == ([0], [1])


def _python(code: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in full_env.items() if v is not None})


def test_aims_older_name_for_the_callback():
    import aim.keras

    assert aim.keras.AimTracker is AimCallback


def test_missing_keras_raises_missing_extra_naming_it():
    proc = _python(
        "import sys\n"
        "sys.modules['keras'] = None\n"
        "import aim\n"
        "from aim.errors import MissingExtraError\n"
        "try:\n"
        "    import aim.keras\n"
        "except MissingExtraError as exc:\n"
        "    print('HINT', exc.hint)\n"
        "    print('MSG', exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "HINT pip install 'aim[keras]'" in proc.stdout
    assert "aim.keras needs keras" in proc.stdout


def test_importing_aim_keras_keeps_the_users_backend(tmp_path):
    # The backend chosen in keras.json (no KERAS_BACKEND): aim.keras neither sets the variable
    # nor changes the choice.
    (tmp_path / "keras.json").write_text('{"backend": "torch", "floatx": "float32", "epsilon": 1e-07, '
                                         '"image_data_format": "channels_last"}')
    proc = _python(
        "import os\n"
        "import aim.keras, keras\n"
        "print(keras.backend.backend(), os.environ.get('KERAS_BACKEND', 'unset'))\n",
        env={"KERAS_BACKEND": None, "KERAS_HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["torch", "unset"]


def test_aim_tensorflow_is_the_keras_callback(tmp_path):
    # Aim's import path for TensorFlow (tensorflow_keras_track.py imports it): the Keras
    # callback, which Keras 3 runs on every backend; TensorFlow itself is not installed here.
    from aim.tensorflow import AimCallback as TFCallback
    from aim.tensorflow import AimTracker as TFTracker

    assert TFCallback is AimCallback and TFTracker is AimCallback
    x, y, _, _ = _data()
    # experiment_name=: what Aim's tensorflow_keras_track.py passes (Aim 2's name for it)
    cb = TFCallback(repo=str(tmp_path), experiment_name="tf", system_tracking_interval=None)
    _model(keras.optimizers.SGD(0.1)).fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[cb])
    run = Run(cb.run_hash, repo=tmp_path, read_only=True)
    assert run.experiment == "tf" and len(run.get_metric("loss", {"subset": "train"}).values) == 2
