#!/usr/bin/env python3
# This file must keep running on Python 3.8: keep timezone.utc, not the newer UTC alias.
# ruff: noqa: UP017
"""govtrack edge agent: pushes a board's CPU, memory and thermal readings to govtrack.

One file, Python 3.8+ standard library only, so it can be copied onto a board
(RISC-V, Arm, x86) and run with the stock interpreter:

    python3 edge_agent.py --url https://govtrack.example.org \\
        --token-file /etc/govtrack/device-token --interval 60

What it reads (paths relative to ``--proc-root`` / ``--sys-root``):

* ``/proc/stat``: CPU utilisation from the difference of two readings
  (``cpu.utilization``, percent; idle time includes iowait);
* ``/proc/meminfo``: ``MemAvailable`` and ``MemTotal`` (``mem.available_bytes``,
  ``mem.total_bytes``);
* ``/sys/class/thermal/thermal_zone*/temp`` and ``type``: ``temperature.c`` per
  zone, labels ``zone`` and ``type``;
* ``/proc/cpuinfo``: the ``isa`` line (RISC-V, e.g. ``rv64imafdc``), else
  ``platform.machine()``; sent as the ``isa`` label of every sample;
* ``device.up`` = 1 with every batch.

Delivery: ``POST <url>/api/compute/ingest/`` with ``Authorization: Device
<token>`` and ``{"device": <key>, "samples": [{"metric", "ts", "value",
"labels"}, ...]}``.  A batch that cannot be delivered (no network, HTTP 429
or 5xx) is written to the spool directory as one JSON file (written to a
temporary name, fsync'd, renamed, directory fsync'd).  Every later cycle
resends spooled batches oldest first and stops at the first failure.  The
spool is bounded (``--spool-max-bytes``): when full, the oldest batches are
dropped and counted (``state.json`` in the spool directory, and the log).
HTTP 413 splits a batch in halves and retries them; 400 drops the batch;
per-sample errors in a 200/201 answer are logged and those samples dropped;
401/403 keep everything spooled and log that the token was refused.

The agent lowers its own priority (``nice`` 10), uses a short HTTP timeout
and sleeps ``--interval`` seconds between cycles: it never retries in a
tight loop.

Exit status (``--once``; the loop only stops on SIGTERM/SIGINT, then 0):

* 0 - the readings were delivered, or safely spooled because govtrack was
  unreachable (they are sent on a later run);
* 2 - bad command line or no token;
* 3 - govtrack refused the device token (HTTP 401/403); batches stay spooled;
* 4 - the readings could not be collected or spooled (I/O error, or another
  agent holds the spool directory).
"""

import argparse
import contextlib
import errno
import glob
import json
import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

try:  # POSIX only; the agent targets Linux boards.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

VERSION = "1.0"
INGEST_PATH = "/api/compute/ingest/"
TOKEN_ENV = "GOVTRACK_DEVICE_TOKEN"  # noqa: S105 - a variable name, not a secret

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_FAILURE = 4

DEFAULT_INTERVAL = 60.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_SPOOL_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_CPU_SAMPLE_SECONDS = 0.5
# A CPU reading saved by an earlier --once run is used for the utilisation
# of this run only if it is at most this old (seconds).
CPU_STATE_MAX_AGE = 900.0
MAX_RESPONSE_BYTES = 64 * 1024

log = logging.getLogger("govtrack.edge_agent")

# Delivery outcomes.
DELIVERED = "delivered"
OFFLINE = "offline"
AUTH_REFUSED = "auth_refused"


# ---------------------------------------------------------------------------
# Reading the board


def _read_text(path):
    with open(path) as handle:
        return handle.read()


def utc_timestamp(when=None):
    """Wire format timestamp: 2026-11-26T18:00:00.000000Z."""
    if when is None:
        when = datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_cpu_times(proc_root):
    """Return ``{"idle": ticks, "total": ticks, "btime": boot time or None}`` from /proc/stat.

    ``total`` adds user, nice, system, idle, iowait, irq, softirq and steal
    (guest time is already counted in user/nice); ``idle`` is idle + iowait.
    """
    text = _read_text(os.path.join(proc_root, "stat"))
    idle = total = None
    btime = None
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "cpu":
            values = [int(v) for v in fields[1:9]]
            values += [0] * (8 - len(values))
            idle = values[3] + values[4]
            total = sum(values)
        elif fields[0] == "btime" and len(fields) > 1:
            btime = int(fields[1])
    if idle is None:
        raise ValueError("no aggregate 'cpu' line in " + os.path.join(proc_root, "stat"))
    return {"idle": idle, "total": total, "btime": btime}


def cpu_utilization(previous, current):
    """Percent of CPU time not idle between two :func:`read_cpu_times` readings, or None."""
    if not previous or not current:
        return None
    if previous.get("btime") != current.get("btime"):
        return None  # rebooted in between
    d_total = current["total"] - previous["total"]
    d_idle = current["idle"] - previous["idle"]
    if d_total <= 0 or d_idle < 0 or d_idle > d_total:
        return None
    return round(100.0 * (1.0 - float(d_idle) / float(d_total)), 3)


def read_meminfo(proc_root):
    """Return ``(available_bytes, total_bytes)`` from /proc/meminfo (either may be None)."""
    values = {}
    for line in _read_text(os.path.join(proc_root, "meminfo")).splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1].lower() == "kb":
            number *= 1024
        values[name.strip()] = number
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        # Kernels before 3.14 have no MemAvailable; estimate it.
        available = values["MemFree"] + values.get("Buffers", 0) + values.get("Cached", 0)
    return available, values.get("MemTotal")


def read_thermal_zones(sys_root):
    """Return ``[(zone, type, celsius), ...]`` for readable thermal zones."""
    zones = []
    pattern = os.path.join(sys_root, "class", "thermal", "thermal_zone*")
    for path in sorted(glob.glob(pattern), key=_zone_order):
        zone = os.path.basename(path)
        try:
            raw = _read_text(os.path.join(path, "temp")).strip()
            millidegrees = int(raw)
        except (OSError, ValueError):
            continue  # disabled zones answer EINVAL/ENODATA
        try:
            kind = _read_text(os.path.join(path, "type")).strip()
        except OSError:
            kind = ""
        zones.append((zone, kind, millidegrees / 1000.0))
    return zones


def _zone_order(path):
    name = os.path.basename(path)
    digits = name[len("thermal_zone") :]
    return (int(digits) if digits.isdigit() else 1 << 30, name)


def read_isa(proc_root):
    """The ISA string from /proc/cpuinfo (RISC-V ``isa`` line), else platform.machine()."""
    try:
        text = _read_text(os.path.join(proc_root, "cpuinfo"))
    except OSError:
        text = ""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "isa" and value.strip():
            return value.strip()
    return platform.machine() or "unknown"


def collect_samples(proc_root, sys_root, cpu_previous, cpu_current, isa, when=None):
    """Build the samples of one collection (wire format dicts)."""
    ts = utc_timestamp(when)
    base = {"isa": isa}
    samples = []

    def add(metric, value, extra=None):
        labels = dict(base)
        if extra:
            labels.update(extra)
        samples.append({"metric": metric, "ts": ts, "value": float(value), "labels": labels})

    util = cpu_utilization(cpu_previous, cpu_current)
    if util is not None:
        add("cpu.utilization", util)
    try:
        available, total = read_meminfo(proc_root)
    except (OSError, ValueError) as exc:
        log.warning("cannot read meminfo: %s", exc)
        available = total = None
    if available is not None:
        add("mem.available_bytes", available)
    if total is not None:
        add("mem.total_bytes", total)
    for zone, kind, celsius in read_thermal_zones(sys_root):
        extra = {"zone": zone}
        if kind:
            extra["type"] = kind
        add("temperature.c", celsius, extra)
    add("device.up", 1)
    return samples


# ---------------------------------------------------------------------------
# Spool


class SpoolLocked(Exception):
    pass


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path, data):
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(directory)


class Spool:
    """An append-only directory of JSON batch files, oldest first by sequence number.

    Files are named ``batch-<12-digit sequence>.json`` and hold exactly the
    request body to send.  ``state.json`` keeps the drop counters and the
    last CPU reading.
    """

    PREFIX = "batch-"
    SUFFIX = ".json"

    def __init__(self, directory, max_bytes=DEFAULT_SPOOL_MAX_BYTES):
        self.directory = directory
        self.max_bytes = int(max_bytes)
        self._lock_fd = None

    # locking -------------------------------------------------------------

    def open(self):
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, 0o700)
        # Leftovers of an interrupted write are never complete batches.
        for tmp in glob.glob(os.path.join(self.directory, ".tmp-*")):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if fcntl is not None:
            fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise SpoolLocked(f"another edge agent is using the spool directory {self.directory}") from exc
                raise
            self._lock_fd = fd

    def close(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # files ---------------------------------------------------------------

    def files(self):
        """Spooled batch files, oldest first."""
        names = []
        for name in os.listdir(self.directory):
            if name.startswith(self.PREFIX) and name.endswith(self.SUFFIX):
                seq = name[len(self.PREFIX) : -len(self.SUFFIX)]
                if seq.isdigit():
                    names.append((int(seq), name))
        names.sort()
        return [os.path.join(self.directory, name) for _, name in names]

    def size(self):
        total = 0
        for path in self.files():
            with contextlib.suppress(OSError):
                total += os.path.getsize(path)
        return total

    def _next_path(self):
        files = self.files()
        seq = 1
        if files:
            last = os.path.basename(files[-1])
            seq = int(last[len(self.PREFIX) : -len(self.SUFFIX)]) + 1
        return os.path.join(self.directory, f"{self.PREFIX}{seq:012d}{self.SUFFIX}")

    @staticmethod
    def encode(payload):
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def add(self, payload):
        """Spool one batch; drop the oldest batches first if the spool would exceed its bound."""
        data = self.encode(payload)
        existing = self.files()
        sizes = []
        for path in existing:
            with contextlib.suppress(OSError):
                sizes.append((path, os.path.getsize(path)))
        total = sum(size for _, size in sizes)
        dropped_batches = 0
        dropped_samples = 0
        while sizes and total + len(data) > self.max_bytes:
            path, size = sizes.pop(0)
            dropped_samples += self._count_samples(path)
            with contextlib.suppress(OSError):
                os.unlink(path)
            total -= size
            dropped_batches += 1
        if dropped_batches:
            state = self.load_state()
            state["dropped_batches"] = state.get("dropped_batches", 0) + dropped_batches
            state["dropped_samples"] = state.get("dropped_samples", 0) + dropped_samples
            self.save_state(state)
            log.warning(
                "spool %s full (limit %d bytes): dropped the %d oldest batch(es), %d sample(s); "
                "%d batch(es) / %d sample(s) dropped in all",
                self.directory,
                self.max_bytes,
                dropped_batches,
                dropped_samples,
                state["dropped_batches"],
                state["dropped_samples"],
            )
        path = self._next_path()
        _atomic_write(path, data)
        return path

    def _count_samples(self, path):
        try:
            return len(self.read(path).get("samples") or [])
        except (OSError, ValueError):
            return 0

    def read(self, path):
        with open(path, "rb") as handle:
            payload = json.loads(handle.read().decode("utf-8"))
        if not isinstance(payload, dict):
            raise ValueError("not a batch object")
        return payload

    def replace(self, path, payload):
        _atomic_write(path, self.encode(payload))

    def remove(self, path):
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        _fsync_dir(self.directory)

    # state ---------------------------------------------------------------

    def _state_path(self):
        return os.path.join(self.directory, "state.json")

    def load_state(self):
        try:
            with open(self._state_path(), "rb") as handle:
                state = json.loads(handle.read().decode("utf-8"))
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_state(self, state):
        _atomic_write(self._state_path(), json.dumps(state, sort_keys=True).encode("utf-8"))


# ---------------------------------------------------------------------------
# Sending


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect comes back as an HTTPError and is reported


class Sender:
    """POSTs batches to the ingest API."""

    def __init__(self, base_url, token_source, timeout=DEFAULT_TIMEOUT):
        self.url = base_url.rstrip("/") + INGEST_PATH
        self.token_source = token_source
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post(self, payload):
        """Return ``(status, body)``; status None when govtrack could not be reached."""
        token = self.token_source()
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        # The URL is checked to be http(s) in main().
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=data,
            method="POST",
            headers={
                "Authorization": "Device " + token,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "govtrack-edge-agent/" + VERSION,
            },
        )
        try:
            response = self._opener.open(request, timeout=self.timeout)
            try:
                status = response.getcode()
                raw = response.read(MAX_RESPONSE_BYTES)
            finally:
                response.close()
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read(MAX_RESPONSE_BYTES)
            except Exception:
                raw = b""
            finally:
                exc.close()
            if 300 <= status < 400:
                log.error("govtrack redirected %s to %s; fix --url", self.url, exc.headers.get("Location"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # ValueError: http.client raises it for malformed answers.
            reason = getattr(exc, "reason", exc)
            log.warning("govtrack at %s unreachable: %s", self.url, reason)
            return None, None
        except Exception as exc:
            log.warning("govtrack at %s unreachable: %s", self.url, exc)
            return None, None
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")[:300]
        return status, body


def _describe(body):
    if isinstance(body, dict):
        return json.dumps(body)[:300]
    return str(body or "")[:300]


def deliver(sender, payload):
    """Send one batch, splitting it on 413.  Return ``(outcome, unsent_samples)``."""
    device = payload.get("device")
    samples = list(payload.get("samples") or [])
    chunks = [samples] if samples else []
    while chunks:
        chunk = chunks[0]
        status, body = sender.post({"device": device, "samples": chunk})
        if status in (200, 201):
            _log_accepted(chunk, body)
            chunks.pop(0)
        elif status == 413:
            if len(chunk) <= 1:
                log.error("govtrack refused a single sample as too large (413); dropped: %s", _describe(chunk))
                chunks.pop(0)
            else:
                half = len(chunk) // 2
                log.info("batch of %d samples too large (413); splitting in halves", len(chunk))
                chunks[0:1] = [chunk[:half], chunk[half:]]
        elif status == 400:
            log.error(
                "govtrack rejected a batch of %d sample(s) as malformed (400), dropped: %s",
                len(chunk),
                _describe(body),
            )
            chunks.pop(0)
        elif status in (401, 403):
            log.error(
                "govtrack refused the device token for device %r (HTTP %d): %s; "
                "batches stay spooled until a valid token is configured",
                device,
                status,
                _describe(body),
            )
            return AUTH_REFUSED, [s for c in chunks for s in c]
        else:
            if status is not None:
                log.warning("govtrack answered HTTP %s (%s); will retry later", status, _describe(body))
            return OFFLINE, [s for c in chunks for s in c]
    return DELIVERED, []


def _log_accepted(chunk, body):
    if not isinstance(body, dict):
        log.info("delivered %d sample(s)", len(chunk))
        return
    errors = body.get("errors") or []
    log.info(
        "delivered %d sample(s): accepted %s, duplicates %s, errors %d",
        len(chunk),
        body.get("accepted"),
        body.get("duplicates"),
        len(errors),
    )
    for error in errors:
        if not isinstance(error, dict):
            log.warning("govtrack reported a sample error: %s", error)
            continue
        index = error.get("index")
        metric = "?"
        if isinstance(index, int) and 0 <= index < len(chunk):
            metric = chunk[index].get("metric", "?")
        log.warning(
            "govtrack rejected sample #%s (%s) field %s: %s; dropped",
            index,
            metric,
            error.get("field"),
            error.get("message"),
        )


def flush_spool(spool, sender):
    """Send spooled batches oldest first; stop at the first failure.  Return an outcome."""
    for path in spool.files():
        try:
            payload = spool.read(path)
        except (OSError, ValueError) as exc:
            log.error("unreadable spooled batch %s removed: %s", path, exc)
            spool.remove(path)
            continue
        outcome, unsent = deliver(sender, payload)
        if outcome == DELIVERED:
            spool.remove(path)
            continue
        if len(unsent) != len(payload.get("samples") or []):
            payload = dict(payload)
            payload["samples"] = unsent
            spool.replace(path, payload)
        return outcome
    return DELIVERED


# ---------------------------------------------------------------------------
# The agent


class Agent:
    def __init__(self, args, token_source):
        self.args = args
        self.spool = Spool(args.spool_dir, args.spool_max_bytes)
        self.sender = Sender(args.url, token_source, args.timeout)
        self.isa = read_isa(args.proc_root)
        self.cpu_previous = None

    def _cpu_readings(self, persisted):
        """Return (previous, current) CPU readings for this cycle."""
        current = read_cpu_times(self.args.proc_root)
        previous = self.cpu_previous
        if previous is None and persisted:
            saved = self.spool.load_state().get("cpu")
            if isinstance(saved, dict):
                age = time.time() - float(saved.get("wall", 0))
                if 0 <= age <= CPU_STATE_MAX_AGE and cpu_utilization(saved, current) is not None:
                    previous = saved
        if previous is None or cpu_utilization(previous, current) is None:
            previous = current
            if self.args.cpu_sample_seconds > 0:
                time.sleep(self.args.cpu_sample_seconds)
            current = read_cpu_times(self.args.proc_root)
        return previous, current

    def cycle(self, persisted_cpu=False):
        """Collect once, then deliver (directly, or through the spool).  Return an outcome."""
        try:
            previous, current = self._cpu_readings(persisted_cpu)
        except (OSError, ValueError) as exc:
            log.warning("cannot read CPU times: %s", exc)
            previous = current = None
        samples = collect_samples(self.args.proc_root, self.args.sys_root, previous, current, self.isa)
        self.cpu_previous = current
        if persisted_cpu and current is not None:
            state = self.spool.load_state()
            saved = dict(current)
            saved["wall"] = time.time()
            state["cpu"] = saved
            self.spool.save_state(state)
        payload = {"device": self.args.device_key, "samples": samples}

        if not self.spool.files():
            # Nothing waiting: send straight away and touch the disk only on failure.
            outcome, unsent = deliver(self.sender, payload)
            if outcome == DELIVERED:
                return DELIVERED
            payload["samples"] = unsent
            self.spool.add(payload)
            log.info("spooled a batch of %d sample(s) (%s)", len(unsent), outcome)
            return outcome
        self.spool.add(payload)
        outcome = flush_spool(self.spool, self.sender)
        waiting = len(self.spool.files())
        if waiting:
            log.info("%d batch(es) waiting in spool %s (%s)", waiting, self.spool.directory, outcome)
        return outcome


def _token_source(args):
    def source():
        if args.token:
            return args.token
        if args.token_file:
            with open(args.token_file) as handle:
                return handle.read().strip()
        return os.environ.get(TOKEN_ENV, "").strip()

    return source


def _default_spool_dir():
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/govtrack-edge-agent/spool"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "govtrack-edge-agent", "spool")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="edge_agent.py",
        description="Push this board's CPU, memory and thermal readings to govtrack.",
        epilog="Exit status with --once: 0 delivered or spooled, 2 usage error, "
        "3 token refused (401/403), 4 collection or spool failure.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("GOVTRACK_URL"),
        help="govtrack base URL, e.g. https://govtrack.example.org (env GOVTRACK_URL)",
    )
    parser.add_argument("--token", help=f"device token (prefer --token-file or env {TOKEN_ENV})")
    parser.add_argument("--token-file", help="file holding the device token")
    parser.add_argument(
        "--device-key", default=socket.gethostname(), help="this device's key in govtrack (default: hostname)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help="seconds between collections (default %(default)s, at least 1)",
    )
    parser.add_argument(
        "--spool-dir",
        default=_default_spool_dir(),
        help="directory for batches waiting to be sent (default %(default)s)",
    )
    parser.add_argument(
        "--spool-max-bytes",
        type=int,
        default=DEFAULT_SPOOL_MAX_BYTES,
        help="spool size bound; the oldest batches are dropped beyond it (default %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="HTTP timeout in seconds (default %(default)s)"
    )
    parser.add_argument(
        "--cpu-sample-seconds",
        type=float,
        default=DEFAULT_CPU_SAMPLE_SECONDS,
        help="gap between the two /proc/stat readings when no earlier reading is at hand (default %(default)s)",
    )
    parser.add_argument("--proc-root", default="/proc", help="procfs root (default /proc)")
    parser.add_argument("--sys-root", default="/sys", help="sysfs root (default /sys)")
    parser.add_argument(
        "--once", action="store_true", help="collect once, send spooled batches and the new one, then exit"
    )
    parser.add_argument("--no-nice", action="store_true", help="do not lower the process priority")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument("--version", action="version", version="%(prog)s " + VERSION)
    return parser


def _setup_logging(args):
    level = logging.INFO
    if args.verbose:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s govtrack-edge-agent %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    _setup_logging(args)

    if not args.url or not args.url.startswith(("http://", "https://")):
        log.error("--url must be govtrack's base URL starting with http:// or https://")
        return EXIT_USAGE
    if args.interval < 1:
        log.error("--interval must be at least 1 second")
        return EXIT_USAGE
    if args.timeout <= 0 or args.spool_max_bytes <= 0 or args.cpu_sample_seconds < 0:
        log.error("--timeout and --spool-max-bytes must be positive, --cpu-sample-seconds not negative")
        return EXIT_USAGE
    if not args.device_key:
        log.error("--device-key must not be empty")
        return EXIT_USAGE
    token_source = _token_source(args)
    try:
        token = token_source()
    except OSError as exc:
        log.error("cannot read --token-file: %s", exc)
        return EXIT_USAGE
    if not token:
        log.error("no device token: give --token, --token-file or set %s", TOKEN_ENV)
        return EXIT_USAGE

    if not args.no_nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)

    agent = Agent(args, token_source)
    try:
        agent.spool.open()
    except SpoolLocked as exc:
        log.error("%s", exc)
        return EXIT_FAILURE
    except OSError as exc:
        log.error("cannot use spool directory %s: %s", args.spool_dir, exc)
        return EXIT_FAILURE
    try:
        if args.once:
            return _run_once(agent)
        return _run_forever(agent)
    finally:
        agent.spool.close()


def _run_once(agent):
    try:
        outcome = agent.cycle(persisted_cpu=True)
    except OSError as exc:
        log.error("cannot collect or spool readings: %s", exc)
        return EXIT_FAILURE
    except Exception as exc:
        log.error("cycle failed: %s", exc)
        return EXIT_FAILURE
    if outcome == AUTH_REFUSED:
        return EXIT_AUTH
    return EXIT_OK


def _run_forever(agent):
    stop = threading.Event()

    def handle_signal(signum, frame):
        log.info("signal %d received; stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle_signal)
    signal.signal(signal.SIGINT, handle_signal)
    log.info(
        "reporting device %r to %s every %g s (isa %s, spool %s)",
        agent.args.device_key,
        agent.sender.url,
        agent.args.interval,
        agent.isa,
        agent.spool.directory,
    )
    while not stop.is_set():
        started = time.monotonic()
        try:
            agent.cycle()
        except Exception as exc:
            log.error("cycle failed: %s", exc)
        elapsed = time.monotonic() - started
        stop.wait(max(1.0, agent.args.interval - elapsed))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
