"""The real edge agent (compute_hooks/edge_agent.py, a subprocess) against govtrack's live ingest API."""

import os
import subprocess
import sys

import pytest

from apps.compute.models import Device, DeviceKind, Sample, SampleRollup
from apps.compute.services.devices import device_create
from tests.compute_hooks.conftest import EDGE_AGENT, FakeBoard
from tests.conftest import free_port
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db(transaction=True)


def run_agent(url, token, spool, board):
    args = [sys.executable, str(EDGE_AGENT), "--url", url, "--token", token, "--device-key", "board-7"]
    args += ["--spool-dir", str(spool), "--proc-root", str(board.proc), "--sys-root", str(board.sys)]
    args += ["--once", "--no-nice", "--timeout", "3", "--cpu-sample-seconds", "0.05"]
    env = {k: v for k, v in os.environ.items() if k != "GOVTRACK_DEVICE_TOKEN"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)


def test_agent_spools_while_govtrack_is_away_then_delivers_in_order_once(live_server, tmp_path):
    organization = OrganizationFactory()
    engineer = member(organization, "engineer")
    device, token = device_create(organization=organization, by=engineer, key="board-7", kind=DeviceKind.EDGE)
    board = FakeBoard(tmp_path / "board")
    spool = tmp_path / "spool"
    closed = f"http://127.0.0.1:{free_port()}"

    # Offline: two collections are spooled, nothing arrives.
    for temperature in (48250, 49000):
        board.add_zone(0, "cpu-thermal", temperature)
        offline = run_agent(closed, token, spool, board)
        assert offline.returncode == 0, offline.stderr
    spooled = sorted(spool.glob("batch-*.json"))
    assert len(spooled) == 2 and not Sample.objects.exists()
    first_batch = spooled[0].read_bytes()

    # Online: the spooled batches go first, oldest first, then the new one.
    online = run_agent(live_server.url, token, spool, board)
    assert online.returncode == 0, online.stderr
    assert not list(spool.glob("batch-*.json"))
    rows = list(Sample.objects.filter(device=device, metric="temperature.c").order_by("id").values_list("ts", "value"))
    assert len(rows) == 3
    assert [ts for ts, _ in rows] == sorted(ts for ts, _ in rows)  # inserted in the order collected
    assert [v for _, v in rows] == [48.25, 49.0, 49.0]  # the hotter zone each time (the other is at 45 C)
    metrics = set(Sample.objects.filter(device=device).values_list("metric", flat=True))
    assert metrics == {"temperature.c", "mem.available_bytes", "mem.total_bytes", "device.up"}
    stored = Sample.objects.count()
    assert SampleRollup.objects.filter(device=device, metric="device.up").exists()

    # A batch delivered twice (an agent restored from a backup) stores nothing new.
    (spool / "batch-000000000001.json").write_bytes(first_batch)
    again = run_agent(live_server.url, token, spool, board)
    assert again.returncode == 0, again.stderr
    assert "duplicates 5" in again.stderr
    assert Sample.objects.count() == stored + 4  # only the new collection's 4 readings
    assert Device.objects.get(pk=device.pk).labels["isa"] == "rv64imafdc"

    # A wrong token is refused: the batch stays spooled (exit 3).
    refused = run_agent(live_server.url, "gtd_00000000_wrong", spool, board)
    assert refused.returncode == 3 and len(list(spool.glob("batch-*.json"))) == 1
