"""NVML collector.

Test machines have no NVIDIA driver, so the real ``pynvml`` cannot find
``libnvidia-ml.so.1``: the first test checks that this gives the clear
DriverNotFoundError.  GPU readings under load are checked on a GPU machine
by tests/gpu/gpu_collectors_check.py.

MIG mode and per-field "not supported" answers cannot be produced on any
machine the tests run on (MIG needs an administrator to repartition a GPU),
so the second test drives the collector with a stand-in NVML module that
answers like the library does in those cases.
"""

import types
from datetime import UTC, datetime

import pytest

from compute_hooks import DriverNotFoundError, NvmlCollector, build_collector

TS = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def _has_nvml_driver() -> bool:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_no_driver_gives_clear_error():
    if _has_nvml_driver():
        pytest.skip("an NVIDIA driver is present on this machine")
    collector = build_collector("nvml", {"host": "ci-runner"})
    with pytest.raises(DriverNotFoundError) as info:
        collector.collect()
    message = str(info.value)
    assert message.startswith("NVIDIA driver not found: NVML Shared Library Not Found")
    assert "ci-runner" in message
    # Calling again gives the same answer (no half-initialised state left behind).
    with pytest.raises(DriverNotFoundError):
        collector.collect()


def _stand_in_nvml():
    nv = types.SimpleNamespace()

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    class NVMLError_NotFound(NVMLError):
        pass

    class NVMLError_GpuIsLost(NVMLError):
        pass

    nv.NVMLError = NVMLError
    nv.NVMLError_NotSupported = NVMLError_NotSupported
    nv.NVMLError_NotFound = NVMLError_NotFound
    nv.NVML_TEMPERATURE_GPU = 0
    nv.NVML_CLOCK_SM = 1
    nv.NVML_DEVICE_MIG_ENABLE = 1
    nv.calls = []
    mem = lambda used, total: types.SimpleNamespace(used=used, total=total, free=total - used)  # noqa: E731
    gpus = {
        0: {
            "uuid": "GPU-aaaa",
            "name": "NVIDIA H100 80GB HBM3",
            "util": 97,
            "mem": mem(70 << 30, 80 << 30),
            "power": NVMLError_NotSupported,
            "temp": 66,
            "clock": 1980,
            "mig": 0,
        },
        1: {
            "uuid": "GPU-bbbb",
            "name": "NVIDIA H100 80GB HBM3",
            "util": NVMLError_NotSupported,
            "mem": mem(30 << 30, 80 << 30),
            "power": 350500,
            "temp": 55,
            "clock": 1755,
            "mig": 1,
            "instances": {
                0: ("MIG-1111", "NVIDIA H100 80GB HBM3 MIG 3g.40gb", mem(10 << 30, 40 << 30)),
                2: ("MIG-2222", "NVIDIA H100 80GB HBM3 MIG 1g.10gb", mem(1 << 30, 10 << 30)),
            },
        },
        2: {"lost": True},
    }
    handles = {("gpu", i): g for i, g in gpus.items()}
    for i, g in gpus.items():
        for slot, inst in (g.get("instances") or {}).items():
            handles[("mig", i, slot)] = {"uuid": inst[0], "name": inst[1], "mem": inst[2], "mig_instance": True}

    def answer(value):
        if isinstance(value, type) and issubclass(value, Exception):
            raise value("Not Supported")
        return value

    def init():
        nv.calls.append("init")

    def shutdown():
        nv.calls.append("shutdown")

    def uuid(h):
        d = handles[h]
        if d.get("lost"):
            raise NVMLError_GpuIsLost("GPU is lost")
        return d["uuid"]

    def util(h):
        d = handles[h]
        if d.get("mig_instance"):
            raise NVMLError_NotSupported("Not Supported")
        return types.SimpleNamespace(gpu=answer(d["util"]), memory=0)

    def max_mig(h):
        return 7

    def mig_handle(h, slot):
        key = ("mig", h[1], slot)
        if key not in handles:
            raise NVMLError_NotFound("Not Found")
        return key

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = lambda: len(gpus)
    nv.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)
    nv.nvmlDeviceGetUUID = uuid
    nv.nvmlDeviceGetName = lambda h: handles[h]["name"].encode()  # older bindings return bytes
    nv.nvmlDeviceGetUtilizationRates = util
    nv.nvmlMemory_v2 = 0x02000028

    def memory_info(h, version=None):
        nv.calls.append(f"memory v{2 if version == nv.nvmlMemory_v2 else 1}")
        return handles[h]["mem"]

    nv.nvmlDeviceGetMemoryInfo = memory_info
    nv.nvmlDeviceGetPowerUsage = lambda h: answer(handles[h]["power"])
    nv.nvmlDeviceGetTemperature = lambda h, sensor: answer(handles[h]["temp"])
    nv.nvmlDeviceGetClockInfo = lambda h, clock: answer(handles[h]["clock"])
    nv.nvmlDeviceGetMigMode = lambda h: [handles[h]["mig"], handles[h]["mig"]]
    nv.nvmlDeviceGetMaxMigDeviceCount = max_mig
    nv.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle
    return nv


def test_not_supported_fields_and_mig_instances():
    nv = _stand_in_nvml()
    collector = NvmlCollector(host="dgx-h100-07", nvml=nv, clock=lambda: TS)
    samples = collector.collect()
    assert nv.calls[0] == "init" and nv.calls[-1] == "shutdown"
    assert set(nv.calls[1:-1]) == {"memory v2"}
    per_device = {}
    for s in samples:
        per_device.setdefault(s.device_key, {})[s.metric] = s
    assert set(per_device) == {"GPU-aaaa", "GPU-bbbb", "MIG-1111", "MIG-2222"}  # lost GPU left out

    gpu0 = per_device["GPU-aaaa"]
    assert "gpu.power.watts" not in gpu0  # not supported: metric skipped, GPU kept
    assert gpu0["gpu.utilization"].value == 97
    assert gpu0["gpu.memory.used_bytes"].value == 70 << 30
    assert gpu0["gpu.temperature.c"].value == 66 and gpu0["gpu.sm_clock.mhz"].value == 1980
    assert gpu0["device.up"].labels == {"name": "NVIDIA H100 80GB HBM3", "index": "0", "host": "dgx-h100-07"}

    gpu1 = per_device["GPU-bbbb"]
    assert "gpu.utilization" not in gpu1 and gpu1["gpu.power.watts"].value == 350.5

    mig = per_device["MIG-2222"]
    assert set(mig) == {"device.up", "gpu.memory.used_bytes", "gpu.memory.total_bytes"}
    assert mig["gpu.memory.total_bytes"].value == 10 << 30
    assert mig["device.up"].labels == {
        "name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        "index": "1",
        "host": "dgx-h100-07",
        "parent": "GPU-bbbb",
        "mig_index": "2",
    }
    assert all(s.timestamp == TS for s in samples)
    assert collector.last_errors == ["GPU index 2: GPU is lost"]

    no_mig = NvmlCollector(host="h", nvml=_stand_in_nvml(), include_mig=False).collect()
    assert not any(s.device_key.startswith("MIG-") for s in no_mig)
