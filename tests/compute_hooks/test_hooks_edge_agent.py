"""The edge agent, run as a real subprocess against a real HTTP receiver.

The receiver (conftest.IngestReceiver) implements govtrack's ingest wire
format on a loopback port and records every request; it can be stopped,
forced to answer 503/400, limited to N samples per batch (413) or told to
refuse the token.  The board is either a fake /proc + /sys tree of a RISC-V
board (fixture ``fake_root``) or this machine's real /proc and /sys.
"""

import ast
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compute_hooks import edge_agent

EDGE_AGENT = Path(edge_agent.__file__).resolve()


def spool_files(spool: Path):
    return sorted(spool.glob("batch-*.json"))


def metrics_of(body):
    return [s["metric"] for s in body["samples"]]


def mem_available(body):
    return next(s["value"] for s in body["samples"] if s["metric"] == "mem.available_bytes")


# ---------------------------------------------------------------------------
# Delivery


def test_fake_board_samples_arrive(receiver, run_agent, fake_root):
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/api/compute/ingest/"
    assert request["headers"]["Authorization"] == "Device device-token-1"
    assert request["headers"]["Content-Type"] == "application/json"
    body = request["body"]
    assert body["device"] == "board-7"
    # First run: the fake /proc/stat does not move, so no CPU figure yet.
    assert metrics_of(body) == [
        "mem.available_bytes",
        "mem.total_bytes",
        "temperature.c",
        "temperature.c",
        "device.up",
    ]
    samples = body["samples"]
    assert all(s["labels"]["isa"] == "rv64imafdc" for s in samples)
    assert samples[0]["value"] == 524288 * 1024 and samples[1]["value"] == 2097152 * 1024
    assert samples[2]["value"] == 48.25 and samples[2]["labels"] == {
        "isa": "rv64imafdc",
        "zone": "thermal_zone0",
        "type": "cpu-thermal",
    }
    assert samples[3]["labels"]["type"] == "gpu-thermal"
    assert samples[4]["value"] == 1.0
    ts = samples[0]["ts"]
    assert len(ts) == len("2026-11-26T18:00:00.000000Z") and ts.endswith("Z") and ts[10] == "T"
    assert spool_files(run_agent.spool) == []  # delivered straight away, nothing spooled

    # Second run: CPU counters moved by 400 ticks, 300 of them idle -> 25 %.
    fake_root.set_stat(user=1080, system=520, idle=8250, iowait=550)
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0, proc.stderr
    second = receiver.requests[1]["body"]
    assert metrics_of(second)[0] == "cpu.utilization"
    assert second["samples"][0]["value"] == 25.0


def test_real_proc(receiver, run_agent):
    proc = run_agent()
    assert proc.returncode == 0, proc.stderr
    body = receiver.requests[0]["body"]
    samples = {s["metric"]: s for s in body["samples"]}
    assert 0.0 <= samples["cpu.utilization"]["value"] <= 100.0
    assert 0 < samples["mem.available_bytes"]["value"] <= samples["mem.total_bytes"]["value"]
    expected_isa = platform.machine()
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.split(":")[0].strip() == "isa":
                expected_isa = line.split(":", 1)[1].strip()
                break
    assert {s["labels"]["isa"] for s in body["samples"]} == {expected_isa}
    assert samples["device.up"]["value"] == 1.0


def test_offline_buffers_then_resends_oldest_first(receiver, run_agent, fake_root):
    receiver.stop()  # govtrack unreachable: connection refused
    for i in range(3):
        fake_root.set_meminfo(available_kb=1000 + i, total_kb=2097152)
        proc = run_agent(board=fake_root)
        assert proc.returncode == 0, proc.stderr  # buffered is success
        assert "unreachable" in proc.stderr
    files = spool_files(run_agent.spool)
    assert [f.name for f in files] == [
        "batch-000000000001.json",
        "batch-000000000002.json",
        "batch-000000000003.json",
    ]
    assert [mem_available(json.loads(f.read_text())) for f in files] == [1000 * 1024, 1001 * 1024, 1002 * 1024]

    receiver.start()  # back on the same port
    fake_root.set_meminfo(available_kb=1003, total_kb=2097152)
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0, proc.stderr
    assert [mem_available(b) for b in receiver.accepted] == [1000 * 1024, 1001 * 1024, 1002 * 1024, 1003 * 1024]
    assert spool_files(run_agent.spool) == []


def test_503_buffers(receiver, run_agent, fake_root):
    receiver.force_status = 503
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0
    assert "HTTP 503" in proc.stderr
    assert len(spool_files(run_agent.spool)) == 1
    receiver.force_status = None
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0
    assert len(receiver.accepted) == 2 and spool_files(run_agent.spool) == []


def test_413_splits_in_halves(receiver, run_agent, fake_root):
    receiver.max_samples = 2
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0, proc.stderr
    statuses = [r["status"] for r in receiver.requests]
    # 5 samples -> 413; halves 2 + 3; the 3 -> 413 -> 1 + 2.
    assert statuses == [413, 200, 413, 200, 200]
    assert [len(b["samples"]) for b in receiver.accepted] == [2, 1, 2]
    assert [s["metric"] for s in receiver.accepted_samples()] == [
        "mem.available_bytes",
        "mem.total_bytes",
        "temperature.c",
        "temperature.c",
        "device.up",
    ]
    assert "splitting in halves" in proc.stderr
    assert spool_files(run_agent.spool) == []


def test_401_keeps_spool(receiver, run_agent, fake_root):
    proc = run_agent(board=fake_root, token="revoked-token")
    assert proc.returncode == edge_agent.EXIT_AUTH == 3
    assert "refused the device token for device 'board-7' (HTTP 401)" in proc.stderr
    assert len(spool_files(run_agent.spool)) == 1
    proc = run_agent(board=fake_root, token="revoked-token")
    assert proc.returncode == 3 and len(spool_files(run_agent.spool)) == 2

    token_file = run_agent.spool.parent / "token"
    token_file.write_text("device-token-1\n")
    proc = run_agent("--token-file", str(token_file), board=fake_root, token=None)
    assert proc.returncode == 0, proc.stderr
    assert len(receiver.accepted) == 3 and spool_files(run_agent.spool) == []


def test_token_from_environment_and_missing_token(receiver, run_agent, fake_root):
    proc = run_agent(board=fake_root, token=None, env={"GOVTRACK_DEVICE_TOKEN": "device-token-1"})
    assert proc.returncode == 0, proc.stderr
    assert receiver.requests[0]["headers"]["Authorization"] == "Device device-token-1"
    proc = run_agent(board=fake_root, token=None)
    assert proc.returncode == 2
    assert "no device token" in proc.stderr


def test_spool_bound_drops_oldest(receiver, run_agent, fake_root):
    receiver.stop()
    limit = 1500  # a fake-board batch is about 700 bytes: two fit
    for i in range(5):
        fake_root.set_meminfo(available_kb=2000 + i, total_kb=2097152)
        proc = run_agent("--spool-max-bytes", str(limit), board=fake_root)
        assert proc.returncode == 0, proc.stderr
    files = spool_files(run_agent.spool)
    assert sum(f.stat().st_size for f in files) <= limit
    kept = [mem_available(json.loads(f.read_text())) for f in files]
    assert kept == [2003 * 1024, 2004 * 1024]  # the newest survive
    state = json.loads((run_agent.spool / "state.json").read_text())
    assert state["dropped_batches"] == 3 and state["dropped_samples"] == 15
    assert "spool" in proc.stderr and "dropped the 1 oldest batch(es)" in proc.stderr

    receiver.start()
    proc = run_agent(board=fake_root)  # default bound: the new batch joins the two kept ones
    assert proc.returncode == 0
    assert [mem_available(b) for b in receiver.accepted] == [2003 * 1024, 2004 * 1024, 2004 * 1024]


def test_per_sample_errors_are_dropped_not_retried(receiver, run_agent, fake_root):
    receiver.sample_errors = {0}
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0
    assert "rejected sample #0 (mem.available_bytes) field value: value out of range; dropped" in proc.stderr
    assert spool_files(run_agent.spool) == []
    receiver.sample_errors = set()
    run_agent(board=fake_root)
    assert len(receiver.requests) == 2  # the first batch was not sent again


def test_400_drops_batch(receiver, run_agent, fake_root):
    receiver.force_status = 400
    proc = run_agent(board=fake_root)
    assert proc.returncode == 0
    assert "rejected a batch of 5 sample(s) as malformed (400)" in proc.stderr
    assert spool_files(run_agent.spool) == []


def test_loop_mode_sends_every_interval_and_stops_on_sigterm(receiver, fake_root, tmp_path):
    args = [
        sys.executable,
        str(EDGE_AGENT),
        "--url",
        receiver.url,
        "--token",
        "device-token-1",
        "--device-key",
        "board-7",
        "--spool-dir",
        str(tmp_path / "spool"),
        "--interval",
        "1",
        "--cpu-sample-seconds",
        "0.05",
        "--proc-root",
        str(fake_root.proc),
        "--sys-root",
        str(fake_root.sys),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while len(receiver.accepted) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert len(receiver.accepted) >= 2
    assert "reporting device 'board-7'" in stderr and "isa rv64imafdc" in stderr


def test_usage_errors(run_agent):
    assert run_agent(url="ftp://example").returncode == 2
    assert run_agent("--interval", "0.2").returncode == 2


# ---------------------------------------------------------------------------
# Portability: stock Python 3.8 on the board


def _python38():
    """A working Python 3.8 interpreter (the oldest the agent supports), or None."""
    candidates = [os.environ.get("GOVTRACK_EDGE_PYTHON")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")))
    candidates += [shutil.which("python3.8")]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 8)":
            return candidate
    return None


def test_runs_on_python_38(receiver, run_agent, fake_root):
    python = _python38()
    if python is None:
        pytest.skip("no Python 3.8 interpreter here (set GOVTRACK_EDGE_PYTHON)")
    receiver.stop()
    assert run_agent(board=fake_root, python=python).returncode == 0
    receiver.start()
    proc = run_agent(board=fake_root, python=python)
    assert proc.returncode == 0, proc.stderr
    assert len(receiver.accepted) == 2


def test_agent_uses_only_the_standard_library():
    # Grammar of the oldest supported Python (no match statements, walrus is fine on 3.8).
    tree = ast.parse(EDGE_AGENT.read_text(), feature_version=(3, 8))
    stdlib = set(sys.stdlib_module_names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in the edge agent"
            roots = [node.module.split(".")[0]]
        else:
            continue
        assert all(root in stdlib for root in roots), roots
        assert not isinstance(node, ast.ImportFrom) or node.module != "__future__"
    source = EDGE_AGENT.read_text()
    for spelling in ("datetime.UTC", "import UTC", "removeprefix(", "removesuffix(", "zoneinfo"):
        assert spelling not in source, f"{spelling} needs Python 3.9+"


# ---------------------------------------------------------------------------
# Readers (imported in-process)


def test_readers(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 40 kB\n")
    assert edge_agent.read_meminfo(str(proc)) == (150 * 1024, 1000 * 1024)  # pre-3.14 kernel estimate
    (proc / "cpuinfo").write_text("processor : 0\nmodel name : ARMv8\n")
    assert edge_agent.read_isa(str(proc)) == platform.machine()
    (proc / "cpuinfo").write_text("processor\t: 0\nisa\t\t: rv64imafdcv_zicsr_zifencei\n")
    assert edge_agent.read_isa(str(proc)) == "rv64imafdcv_zicsr_zifencei"

    sys_root = tmp_path / "sys"
    for index, temp in ((10, "51000"), (2, "40500"), (3, "invalid")):
        zone = sys_root / "class" / "thermal" / f"thermal_zone{index}"
        zone.mkdir(parents=True)
        (zone / "temp").write_text(temp)
        (zone / "type").write_text(f"zone{index}\n")
    assert edge_agent.read_thermal_zones(str(sys_root)) == [
        ("thermal_zone2", "zone2", 40.5),
        ("thermal_zone10", "zone10", 51.0),
    ]

    a = {"idle": 100, "total": 200, "btime": 1}
    assert edge_agent.cpu_utilization(a, {"idle": 150, "total": 300, "btime": 1}) == 50.0
    assert edge_agent.cpu_utilization(a, {"idle": 150, "total": 300, "btime": 2}) is None  # reboot
    assert edge_agent.cpu_utilization(a, a) is None
    assert edge_agent.cpu_utilization(None, a) is None
