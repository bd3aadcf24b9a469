"""nvidia-smi collector: runs ``nvidia-smi --query-gpu`` and parses its CSV.

Useful where the Python NVML bindings cannot be installed but the driver's
command-line tool is there.  Parsing is the pure function
:func:`parse_nvidia_smi_csv`, so recorded output can be tested anywhere.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import socket
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime

from .errors import CommandError
from .samples import Sample, clean_labels, utcnow

log = logging.getLogger(__name__)

MIB = 1024 * 1024

#: Fields asked of ``nvidia-smi --query-gpu``, in this order.
QUERY_FIELDS: tuple[str, ...] = (
    "uuid",
    "name",
    "index",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "power.draw",
    "temperature.gpu",
)

#: nvidia-smi field -> (govtrack metric, multiplier to govtrack's unit).
FIELD_METRICS: dict[str, tuple[str, float]] = {
    "utilization.gpu": ("gpu.utilization", 1.0),
    "memory.used": ("gpu.memory.used_bytes", float(MIB)),  # MiB with nounits
    "memory.total": ("gpu.memory.total_bytes", float(MIB)),
    "power.draw": ("gpu.power.watts", 1.0),
    "temperature.gpu": ("gpu.temperature.c", 1.0),
}


def nvidia_smi_args(binary: str = "nvidia-smi") -> list[str]:
    """The command line the collector runs."""
    return [
        binary,
        "--query-gpu=" + ",".join(QUERY_FIELDS),
        "--format=csv,noheader,nounits",
    ]


def _number(text: str) -> float | None:
    """A numeric CSV cell, or None for ``[N/A]``, ``[Not Supported]`` and the like."""
    value = text.strip()
    if not value or value.startswith("[") or value.upper() in ("N/A", "NA", "UNKNOWN"):
        return None
    # Without ``nounits`` some drivers still append a unit; tolerate it.
    for unit in (" MiB", " W", " %", " C"):
        if value.endswith(unit):
            value = value[: -len(unit)].strip()
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number


def parse_nvidia_smi_csv(
    text: str,
    timestamp: datetime,
    host: str,
    fields: Sequence[str] = QUERY_FIELDS,
) -> list[Sample]:
    """Turn ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` output into samples.

    One row per GPU; device key is the GPU UUID, labels ``name``, ``index``,
    ``host``.  A cell reading ``[N/A]``, ``[Not Supported]`` (or any other
    bracketed word) skips that metric only.  Each GPU row also yields
    ``device.up`` = 1.  Rows without a UUID, or with the wrong number of
    cells, raise :class:`CommandError` (the output is not what was asked for).
    """
    samples: list[Sample] = []
    position = {name: i for i, name in enumerate(fields)}
    if "uuid" not in position:
        raise ValueError("fields must include 'uuid'")
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    for line_no, row in enumerate(reader, 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(fields):
            raise CommandError(
                f"nvidia-smi output line {line_no} has {len(row)} fields, expected "
                f"{len(fields)} ({', '.join(fields)}): {','.join(row)!r}"
            )
        cells = {name: row[i].strip() for name, i in position.items()}
        uuid = cells["uuid"]
        if not uuid or uuid.startswith("["):
            raise CommandError(f"nvidia-smi output line {line_no} has no GPU UUID: {','.join(row)!r}")
        labels = clean_labels(
            {
                "name": cells.get("name", ""),
                "index": cells.get("index", ""),
                "host": host,
            }
        )
        samples.append(Sample(uuid, "device.up", timestamp, 1.0, labels))
        for field_name, (metric, factor) in FIELD_METRICS.items():
            if field_name not in cells:
                continue
            number = _number(cells[field_name])
            if number is None:
                log.debug("nvidia-smi: %s of %s is %r, skipped", field_name, uuid, cells[field_name])
                continue
            samples.append(Sample(uuid, metric, timestamp, number * factor, labels))
    return samples


class NvidiaSmiCollector:
    """Collect GPU metrics by running ``nvidia-smi``.

    :param binary: the ``nvidia-smi`` program (a name looked up on ``PATH``, or a path).
    :param timeout: seconds to wait for it before giving up.
    :param host: value of the ``host`` label (default: this machine's hostname).
    """

    kind = "nvidia_smi"

    def __init__(
        self,
        binary: str = "nvidia-smi",
        timeout: float = 10.0,
        host: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.binary = binary
        self.timeout = float(timeout)
        self.host = host or socket.gethostname()
        self._clock = clock

    def run(self) -> str:
        """Run nvidia-smi and return its standard output; raise :class:`CommandError`."""
        args = nvidia_smi_args(self.binary)
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=self.timeout,
                text=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError as exc:
            raise CommandError(
                f"nvidia-smi not found: {self.binary!r} is not installed or not on PATH "
                "(is the NVIDIA driver installed?)"
            ) from exc
        except PermissionError as exc:
            raise CommandError(f"nvidia-smi could not be run: {self.binary!r}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandError(
                f"nvidia-smi timed out after {self.timeout:g} s ({self.binary!r})", retryable=True
            ) from exc
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()
            raise CommandError(
                f"nvidia-smi exited with status {proc.returncode}: {' '.join(detail)[:500]}",
                returncode=proc.returncode,
                output=proc.stdout + proc.stderr,
            )
        return proc.stdout

    def collect(self) -> list[Sample]:
        ts = self._clock()
        return parse_nvidia_smi_csv(self.run(), ts, self.host)
