"""A real Celery worker process for integration tests, against a given Redis and the test database."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def database_url(connection) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class CeleryWorker:
    """`celery worker -P solo` on the given queues (comma-separated; default: every queue, as a worker started
    without -Q); its output goes to `log` (a file, so a chatty worker never blocks)."""

    def __init__(self, *, connection, redis_url: str, log: Path, queue: str = "", env: dict | None = None):
        from django.conf import settings

        queue = queue or ",".join(settings.TASK_QUEUES)
        self.queue, self.log = queue, log
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(connection),
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            **(env or {}),
        }
        self.process = None

    def start(self) -> None:
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "govtrack", "worker",
                    "-P", "solo", "-Q", self.queue, "-l", "warning",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> str:
        """Stops the worker; its output, printed when it holds a traceback (pytest shows it on failure)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        output = self.log.read_text() if self.log.exists() else ""
        if "Traceback" in output:
            print(output)
        return output
