"""Capture by default, in real processes: system metrics, GPUs (fake NVML above the real code
path), terminal output (fd-level and Python-level), log records, system params redaction."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from aim import Repo, Run
from tests.conftest import CHILDREN, ROOT, run_cli

FAKES = str(ROOT / "tests" / "fakes")
BASE_SYSTEM = {"__system__cpu", "__system__memory_percent", "__system__p_memory_percent",
               "__system__disk_percent"}
RATES = {"__system__net_sent_bytes_per_s", "__system__net_recv_bytes_per_s",
         "__system__disk_read_bytes_per_s", "__system__disk_write_bytes_per_s"}
GPU = {"__system__gpu", "__system__gpu_memory_percent", "__system__gpu_power_watts",
       "__system__gpu_temp"}


def child(repo: Path, mode: str, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    raw = subprocess.run([sys.executable, str(CHILDREN / "capture_child.py"), str(repo), mode],
                         capture_output=True, env=full, timeout=timeout)
    # Decoded by hand: text=True would turn every "\r" of a progress bar into "\n".
    proc = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def last_hash(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.split()[-1]


def system_sequences(repo: Path, run_hash: str) -> dict[tuple[str, str], object]:
    run = Run(run_hash, repo=repo, read_only=True)
    return {(name, json.dumps(dict(ctx), sort_keys=True)): run.get_metric(name, ctx)
            for name, ctx, _run in run.iter_metrics_info() if name.startswith("__system__")}


def events(repo: Path, run_hash: str) -> list[dict]:
    out = subprocess.run(f"zstd -dcq {repo}/.aim/runs/{run_hash}/events/*.zst", shell=True,
                         capture_output=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


# --- system metrics -------------------------------------------------------------------------------
def test_system_metrics_are_plausible_and_in_time_order(repo_path):
    h = last_hash(child(repo_path, "system"))
    seqs = system_sequences(repo_path, h)
    names = {name for name, _ in seqs}
    assert names >= BASE_SYSTEM | RATES
    for (name, _), seq in seqs.items():
        assert len(seq.steps) >= 3, name
        assert seq.steps == list(range(len(seq.steps)))
        assert all(b > a for a, b in zip(seq.timestamps, seq.timestamps[1:])), name
        low, high = (0, 100) if name in BASE_SYSTEM else (0, float("inf"))
        assert all(low <= v <= high for v in seq.values), (name, seq.values)
    # The CPU work in the child shows up.
    assert max(seqs[("__system__cpu", "{}")].values) > 0


def test_system_tracking_none_records_no_system_metric(repo_path):
    h = last_hash(child(repo_path, "nosystem"))
    assert system_sequences(repo_path, h) == {}
    assert [n for n, _, _run in Run(h, repo=repo_path, read_only=True).iter_metrics_info()] == ["loss"]


# --- GPUs through the fake NVML (the real aim code path above it) ----------------------------------
def _fake_nvml(config: dict, tmp_path: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([FAKES, str(ROOT)]),
            "AIM_FAKE_NVML": json.dumps(config), "AIM_FAKE_NVML_LOG": str(tmp_path / "nvml.log")}


def test_gpu_metrics_per_device_and_skipped_when_unsupported(repo_path, tmp_path):
    config = {"devices": [
        {"uuid": "GPU-aaa", "util": 37, "mem_used": 2048, "mem_total": 8192, "power_mw": 120500,
         "temp": 61},
        {"uuid": "GPU-bbb", "util": 5, "mem_used": 0, "mem_total": 8192, "power_mw": None, "temp": 40},
    ]}
    proc = child(repo_path, "gpu", _fake_nvml(config, tmp_path))
    seqs = system_sequences(repo_path, last_hash(proc))
    gpu0 = {n for n, c in seqs if c == '{"gpu": 0}'}
    gpu1 = {n for n, c in seqs if c == '{"gpu": 1}'}
    assert gpu0 == GPU and gpu1 == GPU - {"__system__gpu_power_watts"}
    assert set(seqs[("__system__gpu", '{"gpu": 0}')].values) == {37.0}
    assert set(seqs[("__system__gpu_memory_percent", '{"gpu": 0}')].values) == {25.0}
    assert set(seqs[("__system__gpu_power_watts", '{"gpu": 0}')].values) == {120.5}
    assert set(seqs[("__system__gpu_temp", '{"gpu": 1}')].values) == {40.0}
    assert len(seqs[("__system__gpu", '{"gpu": 1}')].steps) >= 3
    # NVML is initialised once per process, not per sample.
    assert (tmp_path / "nvml.log").read_text().count("\n") == 1


def test_gpu_init_error_or_no_nvml_gives_no_gpu_metric_and_no_error(repo_path, tmp_path):
    proc = child(repo_path, "gpu", _fake_nvml({"devices": [{"uuid": "GPU-a"}],
                                               "init_error": "driver_not_loaded"}, tmp_path))
    seqs = system_sequences(repo_path, last_hash(proc))
    assert not any(c != "{}" for _, c in seqs) and {n for n, _ in seqs} >= BASE_SYSTEM
    assert "Traceback" not in proc.stderr and "NVML" not in proc.stderr
    # Without any pynvml module at all (nvidia-ml-py is not installed in the test venv).
    proc = child(repo_path, "gpu", {"PYTHONPATH": str(ROOT)})
    seqs = system_sequences(repo_path, last_hash(proc))
    assert not any(c != "{}" for _, c in seqs) and {n for n, _ in seqs} >= BASE_SYSTEM
    assert proc.stderr == ""


# --- terminal capture ----------------------------------------------------------------------------
EXPECTED_STDOUT = ["hello from print", "raw write to fd 1", "from a child process"]
EXPECTED_STDERR = ["INFO from logging", "raw write to fd 2"]
BAR_FINAL = "100%|##########| 10000/10000"


def test_terminal_capture_records_print_logging_fds_children_and_bars(repo_path):
    proc = child(repo_path, "terminal")
    h = last_hash(proc)
    # The terminal (here: the test's pipes) still got everything, byte for byte.
    for line in [*EXPECTED_STDOUT, "last line"]:
        assert line in proc.stdout.splitlines()
    assert proc.stderr.startswith("INFO from logging\nraw write to fd 2\n\r  0%|")
    assert proc.stderr.count("\r") == 10_001 and proc.stderr.endswith(BAR_FINAL + "\n")
    lines = [e for e in events(repo_path, h) if e["type"] == "log.line"]
    out = [e["line"] for e in lines if e["stream"] == "stdout"]
    err = [e for e in lines if e["stream"] == "stderr"]
    assert out == [*EXPECTED_STDOUT, "last line"]
    assert [e["line"] for e in err[:2]] == EXPECTED_STDERR
    bar = err[2:]
    # 10,001 redraws: a handful of events, the last one final and exact.
    assert 1 <= len(bar) <= 6 and bar[-1] == {**bar[-1], "line": BAR_FINAL} and "partial" not in bar[-1]
    assert all(e.get("partial") for e in bar[:-1])
    # `aim runs logs` reproduces the text as it looked.
    shown = run_cli("runs", "logs", h, "--repo", str(repo_path))
    assert shown.returncode == 0, shown.stderr
    # Within a stream the order is exact; between stdout and stderr it is only approximate
    # (one pump per stream), so compare each stream's lines in order.
    shown_lines = shown.stdout.splitlines()
    assert sorted(shown_lines) == sorted([*EXPECTED_STDOUT, *EXPECTED_STDERR, BAR_FINAL, "last line"])
    stdout_lines = [*EXPECTED_STDOUT, "last line"]
    assert [x for x in shown_lines if x in stdout_lines] == stdout_lines
    err_only = run_cli("runs", "logs", h, "--stream", "stderr", "--repo", str(repo_path))
    assert err_only.stdout.splitlines() == [*EXPECTED_STDERR, BAR_FINAL]
    records = run_cli("runs", "logs", h, "--records", "--repo", str(repo_path))
    (record,) = records.stdout.splitlines()
    assert "INFO" in record and "records too epoch=3" in record and "capture_child.py:" in record


def test_terminal_capture_keeps_a_terminal_a_terminal(repo_path):
    # Under a real pseudo-terminal: the child still sees a tty (colours, progress bars), the
    # text reaches the terminal unchanged, and the run records it.
    master, slave = pty.openpty()
    code = ("import sys; from aim import Run; r = Run(repo=sys.argv[1], system_tracking_interval=None); "
            "print('tty', sys.stdout.isatty(), flush=True); r.close(); print(r.hash)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(repo_path)], stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert proc.wait(30) == 0
    text = seen.decode().replace("\r\n", "\n")
    assert "tty True\n" in text
    h = text.split()[-1]
    assert [e["line"] for e in events(repo_path, h) if e["type"] == "log.line"] == ["tty True"]


def test_capture_stops_and_restores_the_streams_after_an_exception(repo_path):
    proc = child(repo_path, "exception_restore")
    assert "restored True" in proc.stdout.splitlines()
    h = Repo(repo_path).list_runs()[0]["hash"]
    evs = events(repo_path, h)
    lines = [e["line"] for e in evs if e["type"] == "log.line"]
    assert lines == ["inside the run"]  # nothing written after the close
    assert evs[-1]["type"] == "run.finished" and evs[-1]["status"] == "failed"


def test_uncaught_exception_traceback_is_recorded_before_the_run_ends(repo_path):
    code = ("import sys; from aim import Run; r = Run(repo=sys.argv[1], system_tracking_interval=None); "
            "print(r.hash, flush=True); raise RuntimeError('why the run died')")
    proc = subprocess.run([sys.executable, "-c", code, str(repo_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "RuntimeError: why the run died" in proc.stderr
    evs = events(repo_path, proc.stdout.split()[0])
    err = [e["line"] for e in evs if e["type"] == "log.line" and e["stream"] == "stderr"]
    assert err[0] == "Traceback (most recent call last):" and err[-1] == "RuntimeError: why the run died"
    assert evs[-1]["type"] == "run.finished" and evs[-1]["status"] == "failed"


def test_python_level_fallback_where_stdout_is_not_a_file(repo_path):
    proc = child(repo_path, "not_a_file")
    assert "notebook saw 'into the notebook\\n'" in proc.stdout  # still shown where it goes
    h = last_hash(proc)
    assert [e["line"] for e in events(repo_path, h) if e["type"] == "log.line"] == ["into the notebook"]


def test_async_run_captures_too(repo_path):
    proc = child(repo_path, "async_terminal")
    h = last_hash(proc)
    evs = events(repo_path, h)
    assert [e["line"] for e in evs if e["type"] == "log.line"] == ["from an async loop"]
    assert {e["name"] for e in evs if e["type"] == "metric"} >= BASE_SYSTEM


def test_logs_follow_prints_a_live_run_and_exits_when_it_closes(repo_path):
    proc = subprocess.Popen([sys.executable, str(CHILDREN / "capture_child.py"), str(repo_path), "follow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h = proc.stderr.readline().strip()
    follower = subprocess.Popen([sys.executable, "-m", "aim", "runs", "logs", h, "-f", "--stream",
                                 "stdout", "--repo", str(repo_path)], stdout=subprocess.PIPE, text=True)
    first = follower.stdout.readline()
    t_first = time.monotonic()
    assert first.startswith("line ") and proc.poll() is None  # printed while the run was live
    rest = follower.stdout.read()
    assert follower.wait(30) == 0 and proc.wait(30) == 0
    assert time.monotonic() - t_first < 20
    assert (first + rest).splitlines() == [f"line {i}" for i in range(8)]


# --- system params ----------------------------------------------------------------------------------
def test_secret_env_values_never_reach_the_disk(repo_path):
    secret = "abc-7f3a9-do-not-store"
    proc = child(repo_path, "secret", {"MY_API_TOKEN": secret,
                                      "DB_URL": f"postgres://me:{secret}@db.local/x"})
    h = last_hash(proc)
    raw = subprocess.run(f"zstd -dcq {repo_path}/.aim/runs/{h}/events/*.zst", shell=True,
                         capture_output=True, check=True).stdout
    assert secret.encode() not in raw
    params = Run(h, repo=repo_path, read_only=True)["__system_params"]
    assert params["env"]["MY_API_TOKEN"] == "<redacted>"
    assert params["env"]["DB_URL"] == "postgres://me:<redacted>@db.local/x"
    assert params["argv"][-1] == "secret" and params["executable"] == sys.executable
    assert "orjson" in params["packages"]


def test_two_runs_in_one_process_each_record_what_was_written_while_open(repo_path):
    proc = child(repo_path, "two_runs")
    first, second = proc.stdout.split()[-2:]

    def lines(h):
        return [e["line"] for e in events(repo_path, h) if e["type"] == "log.line"]

    assert lines(first) == ["both open", "still both"]
    assert lines(second) == ["still both", "second only"]


def test_capture_mode_can_be_forced_to_python_level(repo_path):
    proc = child(repo_path, "python_forced", {"AIM_CAPTURE_MODE": "python"})
    assert "via the descriptor" in proc.stdout  # still shown
    h = last_hash(proc)
    assert [e["line"] for e in events(repo_path, h) if e["type"] == "log.line"] == ["via sys.stdout"]


def test_show_lists_system_metrics_and_summarizes_system_params(repo_path):
    h = last_hash(child(repo_path, "system"))
    shown = run_cli("runs", "show", h, "--repo", str(repo_path))
    assert shown.returncode == 0, shown.stderr
    for name in BASE_SYSTEM:
        assert name in shown.stdout
    h = last_hash(child(repo_path, "secret"))
    shown = run_cli("runs", "show", h, "--repo", str(repo_path))
    assert '"__system_params": "{' in shown.stdout and "fields: see --json" in shown.stdout
    full = run_cli("runs", "show", h, "--json", "--repo", str(repo_path))
    assert "orjson" in json.loads(full.stdout)["params"]["__system_params"]["packages"]


def test_a_run_started_after_sys_stdout_was_replaced_captures_the_new_stream(repo_path, monkeypatch):
    """Defect seen in the suite (tests/sdk before tests/docs): while an earlier run kept the
    Python-level capture, a later run captured nothing once sys.stdout had been replaced (a test
    runner's or a notebook cell's redirect): the tee stayed on the old stream."""
    import io

    monkeypatch.setenv("AIM_CAPTURE_MODE", "python")
    first = Run(repo=repo_path, system_tracking_interval=None)
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replaced)
    second = Run(repo=repo_path, system_tracking_interval=None)
    print("printed to the new stream", flush=True)
    second.close()
    first.close()
    assert "printed to the new stream" in replaced.getvalue()  # written through
    lines = [e["line"] for e in events(repo_path, second.hash) if e["type"] == "log.line"]
    assert "printed to the new stream" in lines
    # What is printed after still reaches the stream (restored, or teed for a run another
    # test left open: the capture stops with the last run).
    print("after the runs", flush=True)
    assert "after the runs" in replaced.getvalue()
