"""Check the NVML and nvidia-smi collectors on a real NVIDIA GPU under load.

While a PyTorch matrix-multiply load keeps GPU 0 busy, both collectors are
sampled about once a second; after the load stops they are sampled a few
seconds more.  The check passes when both collectors saw the GPU above 80 %
utilisation under load and below 10 % once it was idle again.

Run on a GPU machine from the repository root:

    python tests/gpu/gpu_collectors_check.py [--load-seconds 16] [--idle-seconds 8]

Exit status: 0 PASS, 1 FAIL, 77 SKIP (no NVIDIA GPU/driver or no PyTorch CUDA).
Under pytest, tests/gpu/test_gpu_collectors.py runs the same check and skips
where no GPU exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from compute_hooks import CollectorError, NvidiaSmiCollector, NvmlCollector  # noqa: E402

BUSY_THRESHOLD = 80.0
IDLE_THRESHOLD = 10.0
SETTLE_SECONDS = 2.0  # after the load stops, before samples count as idle
RAMP_SECONDS = 1.0  # after the load starts, before samples count as loaded
EXIT_SKIP = 77

SKIP_REASON = "no NVIDIA GPU/driver on this machine"

LOAD_PROGRAM = r"""
import sys, time, torch
seconds = float(sys.argv[1])
torch.backends.cuda.matmul.allow_tf32 = True
dev = torch.device("cuda:0")
a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
for _ in range(3):
    c = a @ b
torch.cuda.synchronize()
uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
print("READY", ("GPU-" + str(uuid)) if uuid else "-", flush=True)
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize()
    n += 20
print("DONE", n, flush=True)
"""


def unavailable_reason() -> str | None:
    """Why the check cannot run here, or None when a GPU, its driver and PyTorch CUDA are present."""
    try:
        import pynvml
    except ImportError:
        return "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return f"NVML: {exc}"
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return "NVML sees no GPU"
    finally:
        pynvml.nvmlShutdown()
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi is not on PATH"
    probe = subprocess.run(
        [sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        return "PyTorch with CUDA is not available: " + (probe.stderr.strip().splitlines() or ["no CUDA"])[-1]
    return None


@dataclass
class Row:
    t: float
    phase: str
    nvml: dict[str, float] = field(default_factory=dict)
    smi: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class Result:
    rows: list[Row]
    checks: list[tuple[str, bool, str]]
    device: str
    gpu_name: str

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    @property
    def summary(self) -> str:
        lines = [f"{'PASS' if ok else 'FAIL'}  {name}: {detail}" for name, ok, detail in self.checks]
        lines.append(f"RESULT: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def _metrics_for(samples, device_key: str | None, index: str) -> tuple[dict[str, float], str, str]:
    """Metrics of the target GPU (by UUID, else by index) from one collection."""
    chosen = [s for s in samples if device_key and s.device_key == device_key]
    if not chosen:
        chosen = [s for s in samples if s.labels.get("index") == index and "parent" not in s.labels]
    metrics = {s.metric: s.value for s in chosen}
    key = chosen[0].device_key if chosen else "?"
    name = chosen[0].labels.get("name", "?") if chosen else "?"
    return metrics, key, name


def _fmt(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value / scale:.{digits}f}"


def print_table(rows: list[Row], out=sys.stdout) -> None:
    header = (
        f"{'t(s)':>6} {'phase':<7} {'nvml util%':>10} {'smi util%':>9} {'nvml mem GiB':>12} "
        f"{'smi mem GiB':>11} {'nvml W':>7} {'smi W':>7} {'nvml C':>6} {'smi C':>5} {'SM MHz':>6}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    gib = 1024**3
    for r in rows:
        n, s = r.nvml, r.smi
        print(
            f"{r.t:6.1f} {r.phase:<7} {_fmt(n.get('gpu.utilization')):>10} {_fmt(s.get('gpu.utilization')):>9} "
            f"{_fmt(n.get('gpu.memory.used_bytes'), gib, 2):>12} {_fmt(s.get('gpu.memory.used_bytes'), gib, 2):>11} "
            f"{_fmt(n.get('gpu.power.watts'), 1, 1):>7} {_fmt(s.get('gpu.power.watts'), 1, 1):>7} "
            f"{_fmt(n.get('gpu.temperature.c')):>6} {_fmt(s.get('gpu.temperature.c')):>5} "
            f"{_fmt(n.get('gpu.sm_clock.mhz')):>6}" + (f"  errors: {'; '.join(r.errors)}" if r.errors else ""),
            file=out,
        )


def _check_phase(rows, source: str, phase: str, predicate, minimum: int, describe: str):
    values = [getattr(r, source).get("gpu.utilization") for r in rows if r.phase == phase]
    values = [v for v in values if v is not None]
    if len(values) < minimum:
        return None, f"only {len(values)} {phase} samples (need {minimum})"
    good = [v for v in values if predicate(v)]
    share = len(good) / len(values)
    detail = (
        f"{len(good)}/{len(values)} {phase} samples {describe} "
        f"(median {statistics.median(values):.0f}%, min {min(values):.0f}%, max {max(values):.0f}%)"
    )
    return share, detail


def run_check(load_seconds: float = 16.0, idle_seconds: float = 8.0, interval: float = 1.0, out=sys.stdout) -> Result:
    nvml = NvmlCollector()
    smi = NvidiaSmiCollector(timeout=10)
    rows: list[Row] = []
    env = dict(os.environ, CUDA_DEVICE_ORDER="PCI_BUS_ID")
    t0 = time.monotonic()
    target_uuid: str | None = None
    gpu_name = "?"
    device_key = "?"

    def sample(phase: str) -> None:
        nonlocal gpu_name, device_key
        row = Row(time.monotonic() - t0, phase)
        for name, collector in (("nvml", nvml), ("smi", smi)):
            try:
                samples = collector.collect()
            except CollectorError as exc:
                row.errors.append(f"{name}: {exc}")
                continue
            metrics, key, gname = _metrics_for(samples, target_uuid, "0")
            setattr(row, name, metrics)
            if name == "nvml" and key != "?":
                device_key, gpu_name = key, gname
        rows.append(row)

    def sleep_until_next(started: float) -> None:
        time.sleep(max(0.0, interval - (time.monotonic() - started)))

    # Idle before the load.
    for _ in range(2):
        started = time.monotonic()
        sample("before")
        sleep_until_next(started)

    load = subprocess.Popen(
        [sys.executable, "-c", LOAD_PROGRAM, str(load_seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready = load.stdout.readline().split()
        if not ready or ready[0] != "READY":
            load.wait(30)
            raise RuntimeError(f"GPU load did not start: {load.stderr.read()[-2000:]}")
        if ready[1] != "-":
            target_uuid = ready[1]
        load_started = time.monotonic()
        while load.poll() is None:
            started = time.monotonic()
            phase = "ramp" if started - load_started < RAMP_SECONDS else "load"
            sample(phase)
            sleep_until_next(started)
        load_stopped = time.monotonic()
        done = load.stdout.read().strip()
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"GPU load failed ({load.returncode}): {load.stderr.read()[-2000:]}")

    while time.monotonic() - load_stopped < idle_seconds + SETTLE_SECONDS:
        started = time.monotonic()
        phase = "settle" if started - load_stopped < SETTLE_SECONDS else "idle"
        sample(phase)
        sleep_until_next(started)

    print(f"GPU: {gpu_name} ({device_key}); load: {done}", file=out)
    print_table(rows, out)

    checks: list[tuple[str, bool, str]] = []
    min_load = max(3, int((load_seconds - RAMP_SECONDS) / interval) // 2)
    min_idle = max(2, int(idle_seconds / interval) // 2)
    for source, label in (("nvml", "NVML"), ("smi", "nvidia-smi")):
        share, detail = _check_phase(
            rows, source, "load", lambda v: v > BUSY_THRESHOLD, min_load, f"> {BUSY_THRESHOLD:.0f}%"
        )
        ok = share is not None and share >= 0.8
        checks.append((f"{label} utilisation under load > {BUSY_THRESHOLD:.0f}%", ok, detail))
        share, detail = _check_phase(
            rows, source, "idle", lambda v: v < IDLE_THRESHOLD, min_idle, f"< {IDLE_THRESHOLD:.0f}%"
        )
        ok = share is not None and share == 1.0
        checks.append((f"{label} utilisation idle after load < {IDLE_THRESHOLD:.0f}%", ok, detail))

    loaded_mem = [r.nvml.get("gpu.memory.used_bytes") for r in rows if r.phase == "load"]
    before_mem = [r.nvml.get("gpu.memory.used_bytes") for r in rows if r.phase == "before"]
    if loaded_mem and before_mem and None not in loaded_mem and None not in before_mem:
        grew = max(loaded_mem) > max(before_mem)
        checks.append(
            (
                "NVML memory used rises under load",
                grew,
                f"{max(before_mem) / 1024**3:.2f} GiB before, {max(loaded_mem) / 1024**3:.2f} GiB under load",
            )
        )
    power = [r.nvml.get("gpu.power.watts") for r in rows if r.phase == "load"]
    power = [p for p in power if p is not None]
    idle_power = [r.nvml.get("gpu.power.watts") for r in rows if r.phase == "idle"]
    idle_power = [p for p in idle_power if p is not None]
    if power and idle_power:
        checks.append(
            (
                "NVML power higher under load than idle",
                statistics.median(power) > statistics.median(idle_power),
                f"median {statistics.median(power):.0f} W under load, {statistics.median(idle_power):.0f} W idle",
            )
        )
    errors = [e for r in rows for e in r.errors]
    checks.append(("collections without errors", not errors, f"{len(errors)} errors" if errors else "none"))
    result = Result(rows, checks, device_key, gpu_name)
    print(result.summary, file=out)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load-seconds", type=float, default=16.0)
    parser.add_argument("--idle-seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"SKIP: {SKIP_REASON} ({reason})")
        return EXIT_SKIP
    result = run_check(args.load_seconds, args.idle_seconds, args.interval)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
