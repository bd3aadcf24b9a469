"""What an after-commit nudge costs a web request, against Celery's own `.delay()` in the same run.

    .venv/bin/python bench/outbox_nudge.py

A private redis-server on a free loopback port (never the shared one). Live broker: p50/p99 of 200 publishes each,
nudge (apps/core/outbox.py) and `.delay()`; goal: the nudge within 2x of `.delay()`. Dead broker, three ways
(refused: nothing listens; silent: accepts and never answers; unreachable: never completes the handshake): the
first nudge and one while paused, against one `.delay()` on the refused broker (set BENCH_DELAY_DEAD=0 to skip
that baseline, which waits out Celery's retries); goal: a nudge under 200 ms however the broker is dead. Each
measurement runs in a fresh process with REDIS_URL pointing at the broker it measures, as a web worker would.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLISHES = 200
DEAD_GOAL_SECONDS = 0.2
LIVE_GOAL_RATIO = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(kind: str, url: str) -> dict:
    """Runs one phase in a fresh process (see `phase`)."""
    env = {**os.environ, "REDIS_URL": url, "CELERY_TASK_ALWAYS_EAGER": "0"}
    env["DJANGO_SETTINGS_MODULE"] = "govtrack.settings"
    env.pop("DATABASE_URL", None)  # publishing needs no database
    out = subprocess.run(
        [sys.executable, __file__, "--phase", kind], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase(kind: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.core.outbox import outbox_publish
    from apps.core.tasks import idempotency_forget_expired_keys as task

    if kind in ("live-nudge", "live-delay"):
        publish = (lambda: outbox_publish(task)) if kind == "live-nudge" else (lambda: task.delay())
        publish()  # the first one opens the connection
        times = []
        for _ in range(PUBLISHES):
            started = time.perf_counter()
            publish()
            times.append(time.perf_counter() - started)
        times.sort()
        return {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1]}
    if kind == "dead-delay":
        started = time.perf_counter()
        try:
            task.delay()
        except Exception as exc:  # what the request would have turned into a 500
            error = exc.__class__.__name__
        else:
            error = ""
        return {"seconds": time.perf_counter() - started, "error": error}
    started = time.perf_counter()
    first = outbox_publish(task)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    outbox_publish(task)
    return {"first": first_seconds, "paused": time.perf_counter() - started, "published": first}


def silent_server() -> tuple[list[socket.socket], str]:
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    return [server], f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def unreachable_server() -> tuple[list[socket.socket], str]:
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    sockets = [server]
    for _ in range(3):  # fill the accept queue: later SYNs are dropped
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        sockets.append(filler)
    time.sleep(0.2)
    return sockets, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed")
    port = free_port()
    redis_proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        live = f"redis://127.0.0.1:{port}/0"
        nudge, delay = measure("live-nudge", live), measure("live-delay", live)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
    ratio = nudge["p50"] / delay["p50"]
    verdict = "met" if ratio <= LIVE_GOAL_RATIO else "MISSED"
    for name, figures in (("nudge", nudge), (".delay()", delay)):
        p50, p99 = figures["p50"] * 1000, figures["p99"] * 1000
        print(f"live broker, {PUBLISHES} publishes: {name} p50 {p50:.2f} ms p99 {p99:.2f} ms")
    print(f"ratio nudge/.delay() p50 {ratio:.2f} (goal <= {LIVE_GOAL_RATIO}) {verdict}")

    refused = f"redis://127.0.0.1:{free_port()}/0"
    silent, silent_url = silent_server()
    unreachable, unreachable_url = unreachable_server()
    worst = 0.0
    baseline = None
    if os.environ.get("BENCH_DELAY_DEAD", "1") != "0":
        baseline = measure("dead-delay", refused)
    for name, url in (("refused", refused), ("silent", silent_url), ("unreachable", unreachable_url)):
        result = measure("dead-nudge", url)
        worst = max(worst, result["first"])
        print(f"dead broker ({name}): first nudge {result['first'] * 1000:.1f} ms, while paused"
              f" {result['paused'] * 1000:.2f} ms, raised nothing")  # fmt: skip
    for sock in silent + unreachable:
        sock.close()
    if baseline is not None:
        print(f"dead broker (refused): .delay() {baseline['seconds']:.2f} s"
              f"{', then raised ' + baseline['error'] if baseline['error'] else ''};"
              f" ratio nudge/delay {worst / baseline['seconds']:.4f}")  # fmt: skip
    print(f"worst first nudge {worst * 1000:.1f} ms (goal < {DEAD_GOAL_SECONDS * 1000:.0f} ms)"
          f" {'met' if worst < DEAD_GOAL_SECONDS else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--phase":
        print(json.dumps(phase(sys.argv[2])))
    else:
        main()
