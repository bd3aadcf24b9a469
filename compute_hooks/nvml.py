"""NVML collector: reads every NVIDIA GPU (and MIG instance) of this host.

It uses NVIDIA's management library through the ``nvidia-ml-py`` package
(``import pynvml``).  Each :meth:`NvmlCollector.collect` call initialises
NVML, reads all devices and shuts NVML down again, so a long-running process
holds no NVML state between collections.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime

from .errors import CollectorError, DriverNotFoundError
from .samples import Sample, clean_labels, utcnow

log = logging.getLogger(__name__)

MIB = 1024 * 1024

# NVML init/shutdown is reference counted inside the library; serialise our
# pairs so that concurrent collections in one process do not interleave.
_NVML_LOCK = threading.Lock()


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _memory_info(nv, handle):
    """Frame-buffer memory; ``used`` excludes memory the driver reserves where NVML can say so.

    The v2 query (driver R510+) reports reserved memory apart from ``used``,
    as ``nvidia-smi`` and DCGM's ``FB_USED`` do; older drivers or bindings
    fall back to the v1 query, whose ``used`` includes it.
    """
    version = getattr(nv, "nvmlMemory_v2", None)
    if version is not None:
        fallback = tuple(
            cls
            for cls in (getattr(nv, "NVMLError_FunctionNotFound", None), getattr(nv, "NVMLError_NotSupported", None))
            if cls is not None
        )
        try:
            return nv.nvmlDeviceGetMemoryInfo(handle, version=version)
        except TypeError:
            pass  # bindings without the version argument
        except nv.NVMLError as exc:
            if not (fallback and isinstance(exc, fallback)):
                raise
    return nv.nvmlDeviceGetMemoryInfo(handle)


class NvmlCollector:
    """Collect GPU metrics through NVML.

    :param host: value of the ``host`` label (default: this machine's hostname).
    :param include_mig: also report MIG instances of GPUs in MIG mode.
    :param nvml: the ``pynvml`` module to use (default: imported on first use).
    :param clock: returns the timestamp given to one collection's samples.

    Samples per GPU (device key = GPU UUID; labels ``name``, ``index``, ``host``):
    ``device.up``, ``gpu.utilization``, ``gpu.memory.used_bytes``,
    ``gpu.memory.total_bytes``, ``gpu.power.watts``, ``gpu.temperature.c``,
    ``gpu.sm_clock.mhz``.  A field the GPU does not support is skipped, the
    GPU is still reported.  MIG instances (device key = MIG UUID) carry the
    extra labels ``parent`` (the GPU UUID) and ``mig_index``.

    After each collection :attr:`last_errors` lists the per-field errors that
    were not "not supported" (for logging; the collection still succeeded).
    """

    kind = "nvml"

    def __init__(
        self,
        host: str | None = None,
        include_mig: bool = True,
        nvml=None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.host = host or socket.gethostname()
        self.include_mig = include_mig
        self._nvml = nvml
        self._clock = clock
        self.last_errors: list[str] = []

    def _module(self):
        if self._nvml is None:
            try:
                import pynvml  # nvidia-ml-py
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise DriverNotFoundError(
                    f"NVIDIA driver not found: the nvidia-ml-py package (pynvml) is not installed ({exc})"
                ) from exc
            self._nvml = pynvml
        return self._nvml

    def _init(self, nv) -> None:
        try:
            nv.nvmlInit()
        except nv.NVMLError as exc:
            not_found = tuple(
                cls
                for cls in (
                    getattr(nv, "NVMLError_LibraryNotFound", None),
                    getattr(nv, "NVMLError_DriverNotLoaded", None),
                    getattr(nv, "NVMLError_NoPermission", None),
                )
                if cls is not None
            )
            if not_found and isinstance(exc, not_found):
                raise DriverNotFoundError(
                    f"NVIDIA driver not found: {exc} (NVML could not be initialised on host "
                    f"{self.host}; is the NVIDIA driver installed and libnvidia-ml.so.1 on the "
                    "library path?)"
                ) from exc
            raise CollectorError(f"NVML initialisation failed on host {self.host}: {exc}") from exc

    def collect(self) -> list[Sample]:
        nv = self._module()
        self.last_errors = []
        with _NVML_LOCK:
            self._init(nv)
            try:
                return self._collect_all(nv)
            finally:
                try:
                    nv.nvmlShutdown()
                except nv.NVMLError as exc:  # pragma: no cover - driver quirk
                    log.warning("nvmlShutdown failed: %s", exc)

    # -- internals ---------------------------------------------------------

    def _collect_all(self, nv) -> list[Sample]:
        ts = self._clock()
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            raise CollectorError(f"NVML could not count GPUs on host {self.host}: {exc}") from exc
        samples: list[Sample] = []
        for index in range(count):
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nv.nvmlDeviceGetUUID(handle))
            except nv.NVMLError as exc:
                # A GPU that cannot even be identified (fallen off the bus,
                # "GPU is lost") is left out; the others are still reported.
                self.last_errors.append(f"GPU index {index}: {exc}")
                log.warning("NVML: skipping GPU index %d on %s: %s", index, self.host, exc)
                continue
            labels = {"index": str(index), "host": self.host}
            name = self._field(nv, f"GPU {uuid} name", nv.nvmlDeviceGetName, handle)
            if name is not None:
                labels["name"] = _text(name)
            labels = clean_labels(labels)
            samples.extend(self._device_samples(nv, handle, uuid, labels, ts, mig=False))
            if self.include_mig:
                samples.extend(self._mig_samples(nv, handle, uuid, labels, ts))
        return samples

    def _field(self, nv, what: str, func, *args):
        """Call one NVML getter; None when unsupported or failing."""
        try:
            return func(*args)
        except nv.NVMLError as exc:
            if not isinstance(exc, nv.NVMLError_NotSupported):
                self.last_errors.append(f"{what}: {exc}")
                log.debug("NVML: %s unavailable: %s", what, exc)
            return None

    def _device_samples(self, nv, handle, key, labels, ts, mig: bool) -> list[Sample]:
        out = [Sample(key, "device.up", ts, 1.0, labels)]

        def add(metric: str, value) -> None:
            if value is not None:
                out.append(Sample(key, metric, ts, float(value), labels))

        if not mig:
            # Utilisation, power, temperature and clocks are per physical GPU;
            # NVML answers "not supported" for them on MIG handles.
            util = self._field(nv, f"{key} utilization", nv.nvmlDeviceGetUtilizationRates, handle)
            add("gpu.utilization", getattr(util, "gpu", None) if util is not None else None)
        mem = self._field(nv, f"{key} memory", _memory_info, nv, handle)
        if mem is not None:
            add("gpu.memory.used_bytes", mem.used)
            add("gpu.memory.total_bytes", mem.total)
        if not mig:
            power_mw = self._field(nv, f"{key} power", nv.nvmlDeviceGetPowerUsage, handle)
            add("gpu.power.watts", None if power_mw is None else power_mw / 1000.0)
            add(
                "gpu.temperature.c",
                self._field(nv, f"{key} temperature", nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU),
            )
            add(
                "gpu.sm_clock.mhz",
                self._field(nv, f"{key} SM clock", nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM),
            )
        return out

    def _mig_samples(self, nv, handle, parent_uuid, parent_labels, ts) -> list[Sample]:
        mode = self._field(nv, f"{parent_uuid} MIG mode", nv.nvmlDeviceGetMigMode, handle)
        if not mode or mode[0] != nv.NVML_DEVICE_MIG_ENABLE:
            return []
        max_count = self._field(nv, f"{parent_uuid} MIG device count", nv.nvmlDeviceGetMaxMigDeviceCount, handle)
        out: list[Sample] = []
        for mig_index in range(max_count or 0):
            try:
                mig_handle = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, mig_index)
            except nv.NVMLError as exc:
                # Empty slots answer "not found": there are fewer instances
                # than the maximum.
                if not isinstance(exc, getattr(nv, "NVMLError_NotFound", ())):
                    self.last_errors.append(f"{parent_uuid} MIG slot {mig_index}: {exc}")
                continue
            try:
                mig_uuid = _text(nv.nvmlDeviceGetUUID(mig_handle))
            except nv.NVMLError as exc:
                self.last_errors.append(f"{parent_uuid} MIG slot {mig_index} UUID: {exc}")
                continue
            labels = dict(parent_labels)
            labels["parent"] = parent_uuid
            labels["mig_index"] = str(mig_index)
            name = self._field(nv, f"{mig_uuid} name", nv.nvmlDeviceGetName, mig_handle)
            if name is not None:
                labels["name"] = _text(name)
            out.extend(self._device_samples(nv, mig_handle, mig_uuid, labels, ts, mig=True))
        return out
