"""GpuSampler against the fake pynvml in tests/fakes (configured through ``AIM_FAKE_NVML``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aim.integrations.gpu import GPU_METRICS, GpuSampler, parse_visible_devices

ROOT = Path(__file__).resolve().parent.parent.parent
FAKES = ROOT / "tests" / "fakes"

GPU, MEM, POWER, TEMP = GPU_METRICS

DEV_A = {"uuid": "GPU-aaa", "name": "Fake A", "util": 37, "mem_used": 1024, "mem_total": 8192,
         "power_mw": 120000, "temp": 61}
DEV_B = {"uuid": "GPU-bbb", "name": "Fake B", "util": 5, "mem_used": 0, "mem_total": 8192,
         "power_mw": None, "temp": 40}
TWO = {"devices": [DEV_A, DEV_B], "init_error": None}

EXPECTED_TWO = [
    (GPU, {"gpu": 0}, 37.0), (MEM, {"gpu": 0}, 12.5), (POWER, {"gpu": 0}, 120.0), (TEMP, {"gpu": 0}, 61.0),
    (GPU, {"gpu": 1}, 5.0), (MEM, {"gpu": 1}, 0.0), (TEMP, {"gpu": 1}, 40.0),
]


def _aim_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "aim"]


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Puts the fake pynvml first on sys.path, fresh; returns ``configure(cfg)``."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    for var in ("CUDA_VISIBLE_DEVICES", "AIM_FAKE_NVML", "AIM_FAKE_NVML_LOG"):
        monkeypatch.delenv(var, raising=False)
    GpuSampler._reset_shared()

    def configure(cfg: dict[str, Any]) -> None:
        monkeypatch.setenv("AIM_FAKE_NVML", json.dumps(cfg))

    yield configure
    GpuSampler._reset_shared()


def fake() -> types.ModuleType:
    """The fake module the sampler imported (only after the sampler started)."""
    mod = sys.modules["pynvml"]
    assert mod.__file__ == str(FAKES / "pynvml.py")
    return mod


# --- sampling --------------------------------------------------------------------------------

def test_two_devices_power_unsupported_on_one(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    sampler = GpuSampler.shared()
    assert sampler.available is True
    assert sampler.reason is None
    assert sampler.sample() == EXPECTED_TWO
    assert [(d.index, d.selector, d.uuid, d.name) for d in sampler.devices] == [
        (0, "0", "GPU-aaa", "Fake A"), (1, "1", "GPU-bbb", "Fake B")]
    assert all(type(v) is float for _, _, v in sampler.sample())


def test_values_are_rounded_and_zero_total_memory_is_skipped(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml({"devices": [{"util": 99, "mem_used": 1, "mem_total": 3, "power_mw": 123456, "temp": 70},
                      {"util": 1, "mem_used": 0, "mem_total": 0, "power_mw": 1, "temp": 30}]})
    assert GpuSampler.shared().sample() == [
        (GPU, {"gpu": 0}, 99.0), (MEM, {"gpu": 0}, 33.33),
        (POWER, {"gpu": 0}, 123.46), (TEMP, {"gpu": 0}, 70.0),
        (GPU, {"gpu": 1}, 1.0), (POWER, {"gpu": 1}, 0.0), (TEMP, {"gpu": 1}, 30.0),
    ]


def test_each_sample_has_its_own_context_dicts(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    out = GpuSampler.shared().sample()
    out[0][1]["gpu"] = 99  # a consumer mutating one context must not change another
    assert [ctx for _, ctx, _ in out[1:4]] == [{"gpu": 0}] * 3
    assert GpuSampler.shared().sample() == EXPECTED_TWO


def test_nvml_is_initialised_once_across_many_samples(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    sampler = GpuSampler.shared()
    for _ in range(50):
        assert GpuSampler.shared() is sampler
        assert sampler.sample() == EXPECTED_TWO
    assert fake().init_calls == 1
    assert fake().shutdown_calls == 0


def test_nothing_happens_before_first_use(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    GpuSampler.shared()
    assert "pynvml" not in sys.modules  # lazy: neither imported nor initialised yet


def test_concurrent_first_use_initialises_once(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            results.append(GpuSampler.shared().sample())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160
    assert all(r == EXPECTED_TWO for r in results)
    assert fake().init_calls == 1


def test_close_shuts_down_once_and_shared_starts_afresh(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    sampler = GpuSampler.shared()
    assert sampler.sample() == EXPECTED_TWO
    sampler.close()
    sampler.close()
    assert fake().shutdown_calls == 1
    assert sampler.available is False
    assert sampler.sample() == []
    assert fake().init_calls == 1  # a closed sampler does not start again
    again = GpuSampler.shared()
    assert again is not sampler
    assert again.sample() == EXPECTED_TWO
    assert fake().init_calls == 2


def test_close_before_use_never_touches_nvml(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    sampler = GpuSampler()
    sampler.close()
    assert sampler.sample() == []
    assert "pynvml" not in sys.modules


# --- CUDA_VISIBLE_DEVICES --------------------------------------------------------------------

@pytest.mark.parametrize(("visible", "uuids"), [
    ("1", ["GPU-bbb"]),
    ("1,0", ["GPU-bbb", "GPU-aaa"]),
    (" 1 , 0 ", ["GPU-bbb", "GPU-aaa"]),
    ("0,bad,1", ["GPU-aaa"]),  # stops at the first invalid entry
    ("0,5,1", ["GPU-aaa"]),  # ... and at an index past the last device
    ("1gpu", ["GPU-bbb"]),  # strtoul: the leading digits
    ("0,0", []),  # a repeated device: none
    ("", []),
    ("-1", []),
    ("-1,0", []),
    ("2", []),
    ("GPU-bbb,GPU-aaa", ["GPU-bbb", "GPU-aaa"]),
    ("GPU-bbb,0", ["GPU-bbb"]),  # a UUID list ends at the first entry that is not a UUID
    ("GPU-b", ["GPU-bbb"]),  # a unique UUID prefix
    ("GPU-bbb,GPU-b", []),  # the same device twice
    ("GPU-", []),  # an ambiguous prefix
    ("GPU-zzz,GPU-aaa", []),  # an unknown UUID ends the list
    ("MIG-aaa", []),
])
def test_cuda_visible_devices(nvml: Callable[[dict[str, Any]], None], monkeypatch: pytest.MonkeyPatch,
                              visible: str, uuids: list[str]) -> None:
    nvml(TWO)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    sampler = GpuSampler.shared()
    assert sampler.available is True
    assert [d.uuid for d in sampler.devices] == uuids
    assert [d.index for d in sampler.devices] == list(range(len(uuids)))
    by_uuid = {"GPU-aaa": EXPECTED_TWO[:4], "GPU-bbb": EXPECTED_TWO[4:]}
    expected = [(name, {"gpu": i}, value) for i, u in enumerate(uuids) for name, _, value in by_uuid[u]]
    assert sampler.sample() == expected


def test_mig_uuid_is_looked_up_by_uuid(nvml: Callable[[dict[str, Any]], None],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    mig = {"uuid": "MIG-1234", "mem_used": 512, "mem_total": 2048}  # MIG: no util, power, temp
    nvml({"devices": [DEV_A, mig]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1234")
    assert GpuSampler.shared().sample() == [(MEM, {"gpu": 0}, 25.0)]


@pytest.mark.parametrize(("value", "parsed"), [
    (None, None), ("", []), ("-1", []), ("3,1", [3, 1]), ("0,x,1", [0]), ("+2", [2]), ("1,1", []),
    ("GPU-a,GPU-b", ["GPU-a", "GPU-b"]), ("MIG-a,GPU-b", ["MIG-a"]), ("GPU-a,GPU-a", []),
])
def test_parse_visible_devices(value: str | None, parsed: list[Any] | None) -> None:
    assert parse_visible_devices(value) == parsed


# --- unavailable -----------------------------------------------------------------------------

def test_no_pynvml_module(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                          capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` raise ImportError
    caplog.set_level(logging.DEBUG, logger="aim")
    sampler = GpuSampler()
    assert sampler.sample() == []
    assert sampler.available is False
    assert sampler.sample() == []
    assert sampler.devices == []
    records = _aim_records(caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.DEBUG
    assert "pynvml is not installed" in records[0].getMessage()
    assert sampler.reason is not None and "pynvml is not installed" in sampler.reason
    sampler.close()
    assert capfd.readouterr() == ("", "")
    assert len(recwarn) == 0


@pytest.mark.parametrize(("error", "cls"), [
    ("driver_not_loaded", "NVMLError_DriverNotLoaded"),
    ("library_not_found", "NVMLError_LibraryNotFound"),
    (4, "NVMLError_NoPermission"),
])
def test_init_error(nvml: Callable[[dict[str, Any]], None], caplog: pytest.LogCaptureFixture,
                    capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder,
                    error: Any, cls: str) -> None:
    nvml({**TWO, "init_error": error})
    caplog.set_level(logging.DEBUG, logger="aim")
    sampler = GpuSampler.shared()
    for _ in range(3):
        assert sampler.sample() == []
    assert sampler.available is False
    records = _aim_records(caplog)
    assert len(records) == 1
    assert "nvmlInit failed" in records[0].getMessage() and cls in records[0].getMessage()
    assert fake().init_calls == 1  # not retried on every sample
    sampler.close()
    assert fake().shutdown_calls == 0  # nothing to shut down
    assert capfd.readouterr() == ("", "")
    assert len(recwarn) == 0


def test_device_count_failure_makes_the_sampler_unavailable(nvml: Callable[[dict[str, Any]], None],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    nvml(TWO)
    caplog.set_level(logging.DEBUG, logger="aim")
    import pynvml  # the fake, imported before the sampler so it can be broken first

    def broken() -> int:
        raise pynvml.NVMLError_Unknown()

    pynvml.nvmlDeviceGetCount = broken
    sampler = GpuSampler.shared()
    assert sampler.sample() == []
    assert sampler.available is False
    assert pynvml.init_calls == 1 and pynvml.shutdown_calls == 1  # NVML released again
    assert [r.getMessage() for r in _aim_records(caplog)] == [
        "GPU metrics off: listing devices failed: NVMLError_Unknown: Unknown Error"]


# --- values failing mid-run ------------------------------------------------------------------

def test_a_lost_device_is_skipped_and_the_others_still_sampled(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml(TWO)
    sampler = GpuSampler.shared()
    assert sampler.sample() == EXPECTED_TWO
    fake().config["devices"][0]["lost"] = True  # every call on device 0 now raises GpuIsLost
    assert sampler.sample() == EXPECTED_TWO[4:]
    fake().config["devices"][0]["lost"] = False
    assert sampler.sample() == EXPECTED_TWO


def test_a_value_raising_not_supported_is_skipped(nvml: Callable[[dict[str, Any]], None],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    nvml(TWO)
    sampler = GpuSampler.shared()
    assert sampler.sample() == EXPECTED_TWO
    pynvml = fake()
    real_temp = pynvml.nvmlDeviceGetTemperature

    def temp(handle: Any, sensor: int) -> int:
        if handle.index == 1:
            raise pynvml.NVMLError_NotSupported()
        return real_temp(handle, sensor)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetTemperature", temp)
    pynvml.config["devices"][0]["util"] = None  # utilisation NotSupported on device 0
    assert sampler.sample() == [EXPECTED_TWO[i] for i in (1, 2, 3, 4, 5)]
    assert pynvml.init_calls == 1


def test_every_call_failing_yields_nothing(nvml: Callable[[dict[str, Any]], None]) -> None:
    nvml({"devices": [{"uuid": "GPU-x"}]})  # every value NotSupported
    sampler = GpuSampler.shared()
    assert sampler.available is True
    assert [d.uuid for d in sampler.devices] == ["GPU-x"]
    assert sampler.sample() == []


def test_fake_errors_behave_like_the_real_binding(nvml: Callable[[dict[str, Any]], None]) -> None:
    import pynvml

    assert pynvml.__file__ == str(FAKES / "pynvml.py")
    err = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    assert type(err) is pynvml.NVMLError_NotSupported and err.value == 3
    assert isinstance(pynvml.NVMLError_DriverNotLoaded(), pynvml.NVMLError)
    assert pynvml.NVMLError_LibraryNotFound().value == 12
    assert pynvml.NVMLError_DriverNotLoaded().value == 9
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        pynvml.nvmlDeviceGetCount()


# --- processes -------------------------------------------------------------------------------

def _env(tmp_path: Path, cfg: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(FAKES), str(ROOT)])
    env["AIM_FAKE_NVML"] = json.dumps(cfg)
    env["AIM_FAKE_NVML_LOG"] = str(tmp_path / "nvml.log")
    return env


FORK_CHILD = """
import os, sys
from aim.integrations.gpu import GpuSampler
assert "pynvml" not in sys.modules  # importing aim's gpu module does not import pynvml
parent = GpuSampler.shared()
first = [parent.sample() for _ in range(5)]
assert first[0] and all(s == first[0] for s in first), first
pid = os.fork()
if pid == 0:
    child = GpuSampler.shared()
    ok = child is not parent and [child.sample() for _ in range(5)] == first
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
assert GpuSampler.shared() is parent and parent.sample() == first[0]
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_init_once_per_process_and_again_after_fork(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", FORK_CHILD], env=_env(tmp_path, TWO),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"
    lines = (tmp_path / "nvml.log").read_text().splitlines()
    assert len(lines) == 2 and len(set(lines)) == 2  # one nvmlInit in each process


def _gpu_check(tmp_path: Path, cfg: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--interval", "0", *args],
                          env=_env(tmp_path, cfg), capture_output=True, text=True, timeout=60)


def test_gpu_check_without_nvml(tmp_path: Path) -> None:
    proc = _gpu_check(tmp_path, {**TWO, "init_error": "driver_not_loaded"})
    assert proc.returncode == 0, proc.stderr
    assert "NVML: unavailable" in proc.stdout and "DriverNotLoaded" in proc.stdout
    proc = _gpu_check(tmp_path, {**TWO, "init_error": "driver_not_loaded"}, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["available"] is False and report["samples"] == [] and "DriverNotLoaded" in report["reason"]


def test_gpu_check_with_fake_devices(tmp_path: Path) -> None:
    proc = _gpu_check(tmp_path, TWO)
    assert proc.returncode == 0, proc.stderr
    assert "NVML: available" in proc.stdout and "GPU-bbb" in proc.stdout
    assert proc.stdout.count("gpu 1:") == 3  # three samples of the second device
    proc = _gpu_check(tmp_path, TWO, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["available"] is True
    assert [d["uuid"] for d in report["devices"]] == ["GPU-aaa", "GPU-bbb"]
    assert len(report["samples"]) == 3
    assert report["samples"][0]["values"] == [[n, c, v] for n, c, v in EXPECTED_TWO]
