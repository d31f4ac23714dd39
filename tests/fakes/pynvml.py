"""A fake ``pynvml`` (the module the ``nvidia-ml-py`` package installs) for tests without a GPU.

Only what aim uses, under the real names and with the real behaviour where it matters:

* ``NVMLError(code)`` builds the matching subclass (``NVMLError(3)`` is an
  ``NVMLError_NotSupported``); the subclasses take no arguments; every instance has ``.value``
  (the ``NVML_ERROR_*`` code) and, as in the real module, they compare by code.
* ``nvmlInit`` is reference counted like the real one; any device call before it (or after the
  last ``nvmlShutdown``) raises ``NVMLError_Uninitialized``, ``nvmlShutdown`` with nothing
  initialised too.
* ``nvmlDeviceGetHandleByUUID`` takes ``str`` or ``bytes`` (newer releases encode a ``str``);
  an unknown UUID raises ``NVMLError_NotFound``, a bad index ``NVMLError_InvalidArgument``.
* ``nvmlDeviceGetPowerUsage`` returns milliwatts; ``nvmlDeviceGetMemoryInfo`` bytes
  (``total``/``free``/``used``); ``nvmlDeviceGetUtilizationRates`` percents (``gpu``/``memory``).

Configuration: the environment variable ``AIM_FAKE_NVML`` holds JSON, read at each
``nvmlInit`` (so subprocesses can be configured too)::

    {"devices": [{"uuid": "GPU-aaa", "name": "Fake A100", "util": 37, "mem_used": 1024,
                  "mem_total": 8192, "power_mw": 120000, "temp": 61, "lost": false}],
     "init_error": null}

A value that is ``null`` or absent makes its call raise ``NVMLError_NotSupported``;
``"lost": true`` makes every call on that device raise ``NVMLError_GpuIsLost``.
``init_error`` (``"driver_not_loaded"``, ``"library_not_found"``, ``"no_permission"``,
``"unknown"`` or an integer code) makes ``nvmlInit`` raise. In-process tests may also call
:func:`configure` or edit :data:`config` directly, e.g. to lose a device mid-run.

Bookkeeping: :data:`init_calls` / :data:`shutdown_calls` count calls in this process; when
``AIM_FAKE_NVML_LOG`` names a file, each ``nvmlInit`` appends ``init <pid>`` to it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

# Error codes, as in nvml.h / the real pynvml.
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Base of every NVML error; ``NVMLError(code)`` returns the subclass for ``code``."""

    _value_class: dict[int, type[NVMLError]] = {}
    value: int

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._value_class.get(value, NVMLError)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, *args: Any) -> None:
        super().__init__(self.value)

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]  # the real class defines __eq__ only


def _subclass(name: str, code: int) -> type[NVMLError]:
    def new(cls: type[NVMLError], *args: Any) -> NVMLError:
        return NVMLError.__new__(cls, code)

    klass = type(name, (NVMLError,), {"__new__": new, "__module__": __name__})
    NVMLError._value_class[code] = klass
    return klass


NVMLError_Uninitialized = _subclass("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _subclass("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _subclass("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _subclass("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_AlreadyInitialized = _subclass("NVMLError_AlreadyInitialized", NVML_ERROR_ALREADY_INITIALIZED)
NVMLError_NotFound = _subclass("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _subclass("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _subclass("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _subclass("NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND)
NVMLError_GpuIsLost = _subclass("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_Unknown = _subclass("NVMLError_Unknown", NVML_ERROR_UNKNOWN)

_INIT_ERRORS = {
    "driver_not_loaded": NVML_ERROR_DRIVER_NOT_LOADED,
    "library_not_found": NVML_ERROR_LIBRARY_NOT_FOUND,
    "no_permission": NVML_ERROR_NO_PERMISSION,
    "unknown": NVML_ERROR_UNKNOWN,
}


@dataclass
class c_nvmlUtilization_t:  # the real structs' names
    gpu: int
    memory: int


@dataclass
class c_nvmlMemory_t:
    total: int
    free: int
    used: int


@dataclass(frozen=True)
class c_nvmlDevice_t:
    """An opaque device handle: here just the physical index."""

    index: int


# --- state -----------------------------------------------------------------------------------

config: dict[str, Any] = {"devices": [], "init_error": None}
init_calls = 0
shutdown_calls = 0
_refcount = 0


def configure(cfg: dict[str, Any]) -> None:
    """Replace :data:`config` in this process (``AIM_FAKE_NVML`` is read again at nvmlInit)."""
    global config
    config = {"devices": [], "init_error": None, **cfg}


def _load_env() -> None:
    raw = os.environ.get("AIM_FAKE_NVML")
    if raw is not None:
        configure(json.loads(raw))


def _check_init() -> None:
    if _refcount <= 0:
        raise NVMLError_Uninitialized()


def _devices() -> list[dict[str, Any]]:
    return config.get("devices") or []


def _device(handle: c_nvmlDevice_t) -> dict[str, Any]:
    _check_init()
    if not isinstance(handle, c_nvmlDevice_t) or not 0 <= handle.index < len(_devices()):
        raise NVMLError_InvalidArgument()
    dev = _devices()[handle.index]
    if dev.get("lost"):
        raise NVMLError_GpuIsLost()
    return dev


def _value(handle: c_nvmlDevice_t, key: str) -> Any:
    value = _device(handle).get(key)
    if value is None:
        raise NVMLError_NotSupported()
    return value


def _uuid(i: int) -> str:
    return _devices()[i].get("uuid") or f"GPU-fake-{i}"


# --- the API ---------------------------------------------------------------------------------

def nvmlInit() -> None:
    """Initialise NVML (reference counted); raises as ``init_error`` says."""
    global init_calls, _refcount
    init_calls += 1
    log = os.environ.get("AIM_FAKE_NVML_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"init {os.getpid()}\n")
    _load_env()
    err = config.get("init_error")
    if err is not None:
        raise NVMLError(_INIT_ERRORS.get(err, NVML_ERROR_UNKNOWN) if isinstance(err, str) else int(err))
    _refcount += 1


def nvmlShutdown() -> None:
    """Release one reference taken by :func:`nvmlInit`."""
    global shutdown_calls, _refcount
    _check_init()
    shutdown_calls += 1
    _refcount -= 1


def nvmlDeviceGetCount() -> int:
    _check_init()
    return len(_devices())


def nvmlDeviceGetHandleByIndex(index: int) -> c_nvmlDevice_t:
    _check_init()
    if not isinstance(index, int) or not 0 <= index < len(_devices()):
        raise NVMLError_InvalidArgument()
    return c_nvmlDevice_t(index)


def nvmlDeviceGetHandleByUUID(uuid: str | bytes) -> c_nvmlDevice_t:
    _check_init()
    if isinstance(uuid, bytes):
        uuid = uuid.decode()
    if not isinstance(uuid, str) or not uuid:
        raise NVMLError_InvalidArgument()
    for i in range(len(_devices())):
        if _uuid(i) == uuid:
            return c_nvmlDevice_t(i)
    raise NVMLError_NotFound()


def nvmlDeviceGetUUID(handle: c_nvmlDevice_t) -> str:
    _device(handle)
    return _uuid(handle.index)


def nvmlDeviceGetName(handle: c_nvmlDevice_t) -> str:
    return str(_device(handle).get("name") or "Fake GPU")


def nvmlDeviceGetUtilizationRates(handle: c_nvmlDevice_t) -> c_nvmlUtilization_t:
    util = _value(handle, "util")
    return c_nvmlUtilization_t(gpu=int(util), memory=int(_device(handle).get("mem_util") or 0))


def nvmlDeviceGetMemoryInfo(handle: c_nvmlDevice_t, version: int | None = None) -> c_nvmlMemory_t:
    used, total = int(_value(handle, "mem_used")), int(_value(handle, "mem_total"))
    return c_nvmlMemory_t(total=total, free=total - used, used=used)


def nvmlDeviceGetPowerUsage(handle: c_nvmlDevice_t) -> int:
    return int(_value(handle, "power_mw"))


def nvmlDeviceGetTemperature(handle: c_nvmlDevice_t, sensor: int) -> int:
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError_InvalidArgument()
    return int(_value(handle, "temp"))
