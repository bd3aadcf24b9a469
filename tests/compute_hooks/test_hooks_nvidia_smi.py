"""nvidia-smi collector: parsing recorded output, and running a stand-in binary.

No NVIDIA driver is installed on test machines, so the real ``nvidia-smi``
cannot run here (it runs in tests/gpu/ on a GPU machine).  The parser is fed
recorded output; the subprocess handling runs a small executable script that
plays ``nvidia-smi`` (a real process, real exit codes, real PATH lookup).
"""

import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compute_hooks import CommandError, NvidiaSmiCollector, build_collector, parse_nvidia_smi_csv
from compute_hooks.nvidia_smi import nvidia_smi_args

RECORDED = Path(__file__).resolve().parent / "recorded"
TS = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
MIB = 1048576


def by_metric(samples, device):
    return {s.metric: s.value for s in samples if s.device_key == device}


def test_parse_two_h100s():
    samples = parse_nvidia_smi_csv((RECORDED / "nvidia_smi_h100_x2.csv").read_text(), TS, "dgx-h100-07")
    gpu0 = by_metric(samples, "GPU-5f2c7c52-0a9e-3c1b-8d3e-1b2a4c6d8e01")
    assert gpu0 == {
        "device.up": 1.0,
        "gpu.utilization": 100.0,
        "gpu.memory.used_bytes": 61447 * MIB,
        "gpu.memory.total_bytes": 81559 * MIB,
        "gpu.power.watts": 698.52,
        "gpu.temperature.c": 71.0,
    }
    gpu1 = by_metric(samples, "GPU-9a61d0e4-7b3f-4c2a-a1d5-6e8f0b2c4d13")
    assert gpu1["gpu.utilization"] == 0.0 and gpu1["gpu.memory.used_bytes"] == MIB
    first = samples[0]
    assert first.labels == {"name": "NVIDIA H100 80GB HBM3", "index": "0", "host": "dgx-h100-07"}
    assert all(s.timestamp == TS for s in samples)
    assert len(samples) == 12


def test_parse_skips_na_and_not_supported_cells_only():
    samples = parse_nvidia_smi_csv((RECORDED / "nvidia_smi_mixed_na.csv").read_text(), TS, "ws")
    rtx = by_metric(samples, "GPU-1f3c9e2a-77b1-2d54-90aa-c2f3e4d5a6b7")
    assert "gpu.power.watts" not in rtx and rtx["gpu.utilization"] == 3.0 and rtx["gpu.temperature.c"] == 45.0
    t4 = by_metric(samples, "GPU-2c4d6e8f-0a1b-3c5d-7e9f-1a2b3c4d5e6f")
    assert "gpu.utilization" not in t4 and "gpu.temperature.c" not in t4
    assert t4["gpu.power.watts"] == 27.43 and t4["device.up"] == 1.0
    a100 = by_metric(samples, "GPU-7e8f9a0b-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
    assert "gpu.utilization" not in a100 and a100["gpu.memory.total_bytes"] == 40960 * MIB
    assert {s.labels["index"] for s in samples} == {"0", "1", "2"}


def test_parse_tolerates_blank_lines_and_rejects_garbage():
    assert parse_nvidia_smi_csv("\n\n", TS, "h") == []
    with pytest.raises(CommandError, match="has 3 fields, expected 8"):
        parse_nvidia_smi_csv("GPU-1, Tesla T4, 0\n", TS, "h")
    with pytest.raises(CommandError, match="no GPU UUID"):
        parse_nvidia_smi_csv("[N/A], Tesla T4, 0, 1, 2, 3, 4, 5\n", TS, "h")


def test_command_line():
    assert nvidia_smi_args("/usr/bin/nvidia-smi") == [
        "/usr/bin/nvidia-smi",
        "--query-gpu=uuid,name,index,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu",
        "--format=csv,noheader,nounits",
    ]


def _fake_smi(directory: Path, body: str) -> Path:
    path = directory / "nvidia-smi"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def test_fake_binary_on_path(tmp_path, monkeypatch):
    recorded = (RECORDED / "nvidia_smi_h100_x2.csv").read_text()
    _fake_smi(
        tmp_path,
        "import sys\n"
        "expected = ['--query-gpu=uuid,name,index,utilization.gpu,memory.used,memory.total,power.draw,"
        "temperature.gpu', '--format=csv,noheader,nounits']\n"
        "if sys.argv[1:] != expected:\n"
        "    sys.stderr.write('unexpected arguments %r\\n' % sys.argv[1:]); sys.exit(2)\n"
        f"sys.stdout.write({recorded!r})\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    samples = build_collector("nvidia_smi", {"host": "dgx-h100-07"}).collect()
    assert len(samples) == 12
    assert {s.device_key for s in samples} == {
        "GPU-5f2c7c52-0a9e-3c1b-8d3e-1b2a4c6d8e01",
        "GPU-9a61d0e4-7b3f-4c2a-a1d5-6e8f0b2c4d13",
    }


def test_nonzero_exit_is_a_clear_error(tmp_path):
    binary = _fake_smi(
        tmp_path,
        "import sys\n"
        "sys.stdout.write('NVIDIA-SMI has failed because it couldn\\'t communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\\n')\n"
        "sys.exit(9)\n",
    )
    with pytest.raises(CommandError) as info:
        NvidiaSmiCollector(binary=str(binary)).collect()
    assert info.value.returncode == 9
    assert "nvidia-smi exited with status 9: NVIDIA-SMI has failed" in str(info.value)
    assert not info.value.retryable


def test_missing_binary_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match=r"nvidia-smi not found: .* is not installed or not on PATH"):
        NvidiaSmiCollector(binary=str(tmp_path / "no-such-nvidia-smi")).collect()


def test_hanging_binary_times_out(tmp_path):
    binary = _fake_smi(tmp_path, "import time\ntime.sleep(30)\n")
    with pytest.raises(CommandError, match=r"timed out after 0\.5 s") as info:
        NvidiaSmiCollector(binary=str(binary), timeout=0.5).collect()
    assert info.value.retryable
