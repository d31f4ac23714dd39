"""GPU sampling through NVML (``pynvml``, from the ``nvidia-ml-py`` package: ``pip install 'aim[gpu]'``).

One :class:`GpuSampler` per process (:meth:`GpuSampler.shared`) initialises NVML once, lazily,
on first use, looks the visible devices up once, and then reads four values per device on each
:meth:`GpuSampler.sample`::

    [("__system__gpu", {"gpu": 0}, 37.0),                 # utilisation, percent
     ("__system__gpu_memory_percent", {"gpu": 0}, 12.5),  # memory used / total, percent
     ("__system__gpu_power_watts", {"gpu": 0}, 120.0),    # board power draw, watts
     ("__system__gpu_temp", {"gpu": 0}, 61.0), ...]      # core temperature, degrees C

Where there is no ``pynvml`` or NVML does not start (no driver, no library, no permission) the
sampler is simply unavailable: ``sample()`` returns ``[]`` and one debug line on the ``aim``
logger says why. A value the device cannot give (``NotSupported`` on MIG slices or on boards
without a power sensor, a GPU fallen off the bus) is left out of that sample; nothing here
raises on account of the GPU.

Visible devices follow ``CUDA_VISIBLE_DEVICES`` the way CUDA (and ``torch.cuda``) read it, so
``{"gpu": i}`` is the same ``i`` as ``torch.device("cuda", i)``:

* unset: every device NVML reports;
* ``""`` or a list that starts with an invalid entry (``"-1"``): none;
* integers (read like C ``strtoul``: ``"1gpu"`` is 1): physical indices, up to the first entry
  that is not a non-negative integer or is past the last device;
* ``GPU-...`` / ``MIG-...`` UUIDs (full, or a unique prefix of a GPU UUID): up to the first
  entry that does not start with the same prefix or matches no device. As in CUDA a UUID list
  does not mix with indices: ``"GPU-bbb,0"`` is just ``GPU-bbb``;
* a device named twice: none (CUDA's rule).

Known gap: with ``CUDA_DEVICE_ORDER`` unset CUDA numbers devices fastest first while NVML numbers
them by PCI bus id; on a machine with mixed GPU models the integer indices may then name other
boards than CUDA's. UUIDs are always exact.

This module imports only the standard library; ``pynvml`` is imported inside a function.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["GPU_METRICS", "GpuDevice", "GpuSampler", "parse_visible_devices"]

GPU_METRICS = (
    "__system__gpu",
    "__system__gpu_memory_percent",
    "__system__gpu_power_watts",
    "__system__gpu_temp",
)

_log = logging.getLogger("aim")

Sample = list[tuple[str, dict[str, int], float]]


@dataclass(frozen=True)
class GpuDevice:
    """A visible device: ``index`` is its position among the visible ones (the ``gpu`` context),
    ``selector`` what picked it (the physical index as text, or the ``CUDA_VISIBLE_DEVICES``
    entry), ``uuid`` and ``name`` as NVML reports them (None when it would not say)."""

    index: int
    selector: str
    uuid: str | None
    name: str | None


def _strtoul(text: str) -> int:
    """The leading integer of ``text`` (an optional sign, then digits), or -1 when there is none."""
    end = 1 if text[:1] in ("+", "-") else 0
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[:end]
    return int(digits) if digits and digits not in ("+", "-") else -1


def parse_visible_devices(value: str | None) -> list[int] | list[str] | None:
    """Read a ``CUDA_VISIBLE_DEVICES`` value: None (all devices), physical indices, or UUIDs.

    Follows CUDA's rules as ``torch.cuda`` mirrors them: the list ends at the first invalid
    entry, a UUID list ends at the first entry without the first one's ``GPU-``/``MIG-``
    prefix, and a repeated entry makes the whole list empty.
    """
    if value is None:
        return None
    entries = [e.strip() for e in value.split(",")]
    prefix = next((p for p in ("GPU-", "MIG-") if entries[0].startswith(p)), None)
    if prefix is not None:
        uuids: list[str] = []
        for entry in entries:
            if not entry.startswith(prefix):
                break
            if entry in uuids:
                return []
            uuids.append(entry)
        return uuids
    indices: list[int] = []
    for entry in entries:
        index = _strtoul(entry)
        if index < 0:
            break
        if index in indices:
            return []
        indices.append(index)
    return indices


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class GpuSampler:
    """Reads GPU utilisation, memory, power and temperature through NVML.

    Thread-safe. NVML is initialised on first use (``available``, ``devices`` or ``sample``)
    and shut down by :meth:`close`; use :meth:`shared` rather than one sampler per run.
    """

    _shared: ClassVar[GpuSampler | None] = None
    _shared_pid: ClassVar[int] = -1
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._nvml: Any = None  # the pynvml module once NVML is up
        self._handles: list[Any] = []
        self._devices: list[GpuDevice] = []
        self._reason: str | None = None

    # --- one per process -------------------------------------------------------------------

    @classmethod
    def shared(cls) -> GpuSampler:
        """This process's sampler (a new one after a fork, or after the last one was closed)."""
        pid = os.getpid()
        inst = cls._shared
        if inst is not None and cls._shared_pid == pid and not inst._closed:
            return inst
        with cls._shared_lock:
            inst = cls._shared
            if inst is None or cls._shared_pid != pid or inst._closed:
                inst = cls()
                cls._shared, cls._shared_pid = inst, pid
            return inst

    @classmethod
    def _reset_shared(cls) -> None:
        """Close and forget this process's shared sampler (a test hook)."""
        with cls._shared_lock:
            inst, pid = cls._shared, cls._shared_pid
            cls._shared, cls._shared_pid = None, -1
        if inst is not None and pid == os.getpid():
            inst.close()

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # The parent's sampler (and a lock some parent thread may have held) stay behind.
        cls._shared, cls._shared_pid = None, -1
        cls._shared_lock = threading.Lock()

    # --- state -----------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """True once NVML is up; False when pynvml is missing, nvmlInit failed, or after close."""
        with self._lock:
            return self._start()

    @property
    def reason(self) -> str | None:
        """Why the sampler is unavailable (None while it is available or not yet started)."""
        with self._lock:
            self._start()
            return self._reason

    @property
    def devices(self) -> list[GpuDevice]:
        """The visible devices, in ``gpu`` context order (empty when unavailable)."""
        with self._lock:
            self._start()
            return list(self._devices)

    def _start(self) -> bool:
        """Initialise NVML once (the caller holds ``_lock``); True when it is up."""
        if self._started:
            return self._nvml is not None
        self._started = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pynvml
        except ImportError as exc:
            return self._off(f"pynvml is not installed (pip install 'aim[gpu]'): {_describe(exc)}")
        try:
            pynvml.nvmlInit()
        except (pynvml.NVMLError, OSError) as exc:
            return self._off(f"nvmlInit failed: {_describe(exc)}")
        try:
            self._find_devices(pynvml, os.environ.get("CUDA_VISIBLE_DEVICES"))
        except pynvml.NVMLError as exc:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass
            self._handles, self._devices = [], []
            return self._off(f"listing devices failed: {_describe(exc)}")
        self._nvml = pynvml
        _log.debug("GPU metrics: NVML up, %d visible device(s): %s", len(self._devices),
                   ", ".join(f"{d.index}={d.selector}" for d in self._devices) or "none")
        return True

    def _off(self, reason: str) -> bool:
        self._reason = reason
        _log.debug("GPU metrics off: %s", reason)
        return False

    def _find_devices(self, nvml: Any, visible: str | None) -> None:
        """Resolve ``CUDA_VISIBLE_DEVICES`` to handles (NVMLError only from nvmlDeviceGetCount)."""
        count = nvml.nvmlDeviceGetCount()
        wanted = parse_visible_devices(visible)
        if wanted is None:
            wanted = list(range(count))
        found: list[tuple[str, Any, str | None]] = []  # (selector, handle, uuid)
        for entry in wanted:
            if isinstance(entry, int):
                if entry >= count:
                    break
                try:
                    handle = nvml.nvmlDeviceGetHandleByIndex(entry)
                except nvml.NVMLError:
                    break
                selector = str(entry)
            else:
                handle = self._by_uuid(nvml, entry, count)
                if handle is None:
                    break
                selector = entry
            uuid = self._try(nvml, nvml.nvmlDeviceGetUUID, handle)
            if uuid is not None and any(uuid == u for _, _, u in found):
                found = []  # the same device twice (e.g. a UUID and its prefix): CUDA sees none
                break
            found.append((selector, handle, uuid))
        self._handles = [h for _, h, _ in found]
        self._devices = [
            GpuDevice(i, selector, uuid, self._try(nvml, nvml.nvmlDeviceGetName, handle))
            for i, (selector, handle, uuid) in enumerate(found)
        ]

    @staticmethod
    def _try(nvml: Any, fn: Any, handle: Any) -> str | None:
        try:
            return _text(fn(handle))
        except nvml.NVMLError:
            return None

    def _by_uuid(self, nvml: Any, entry: str, count: int) -> Any:
        """The handle for a full UUID, or for the one GPU whose UUID starts with ``entry``."""
        try:
            return nvml.nvmlDeviceGetHandleByUUID(entry.encode())
        except nvml.NVMLError:
            pass
        match = None
        for i in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            except nvml.NVMLError:
                continue
            if uuid.startswith(entry):
                if match is not None:
                    return None  # ambiguous prefix
                match = handle
        return match

    # --- sampling --------------------------------------------------------------------------

    def sample(self) -> Sample:
        """One reading of every visible device: ``[(metric name, {"gpu": i}, value), ...]``.

        A value NVML cannot give this time is left out; ``[]`` when the sampler is unavailable.
        """
        with self._lock:
            if not self._start():
                return []
            nvml = self._nvml
            err = nvml.NVMLError
            out: Sample = []
            for i, handle in enumerate(self._handles):
                try:
                    out.append((GPU_METRICS[0], {"gpu": i},
                                round(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu), 2)))
                except err:
                    pass
                try:
                    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                    if mem.total > 0:
                        out.append((GPU_METRICS[1], {"gpu": i}, round(mem.used / mem.total * 100, 2)))
                except err:
                    pass
                try:
                    out.append((GPU_METRICS[2], {"gpu": i},
                                round(nvml.nvmlDeviceGetPowerUsage(handle) / 1000, 2)))
                except err:
                    pass
                try:
                    temp = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                    out.append((GPU_METRICS[3], {"gpu": i}, round(float(temp), 2)))
                except err:
                    pass
            return out

    def close(self) -> None:
        """Shut NVML down (once; later calls do nothing). The sampler is unavailable after."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._started = True
            nvml, self._nvml = self._nvml, None
            self._handles, self._devices = [], []
            if self._reason is None:
                self._reason = "closed"
            if nvml is not None:
                try:
                    nvml.nvmlShutdown()
                except nvml.NVMLError:
                    pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=GpuSampler._after_fork_in_child)
