"""The ingest API, in the edge agent's wire format, on the real database (PostgreSQL: COPY; SQLite: bulk insert)."""

import datetime as dt
import json

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.compute.models import Device, Sample, SampleRollup
from apps.compute.services.devices import device_rotate_token
from apps.compute.services.ingest import samples_purge_expired

pytestmark = pytest.mark.django_db

URL = "/api/compute/ingest/"


def wire(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def post(api_client, token, body, raw=False):
    data = body if raw else json.dumps(body)
    return api_client.post(URL, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Device {token}")


def batch(minute: dt.datetime, values, metric="cpu.utilization", key="board-7"):
    return {
        "device": key,
        "samples": [
            {"metric": metric, "ts": wire(minute + dt.timedelta(seconds=10 * i)), "value": v, "labels": {"isa": "rv64"}}
            for i, v in enumerate(values)
        ],
    }


def rollups(device):
    return list(
        SampleRollup.objects.filter(device=device)
        .order_by("metric", "minute")
        .values_list("minute", "avg", "min", "max", "count")
    )


def test_batch_is_stored_once_and_rolled_up_per_minute(api_client, pushing_device):
    device, token = pushing_device
    minute = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    body = batch(minute, [10, 20, 30, 40, 50, 60, 70])  # 6 in the first minute, one in the next

    first = post(api_client, token, body)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 7, "duplicates": 0, "late": 0, "errors": []}
    assert rollups(device) == [
        (minute, 35.0, 10.0, 60.0, 6),
        (minute + dt.timedelta(minutes=1), 70.0, 70.0, 70.0, 1),
    ]

    again = post(api_client, token, body)
    assert again.json() == {"accepted": 0, "duplicates": 7, "late": 0, "errors": []}
    assert Sample.objects.filter(device=device).count() == 7
    assert rollups(device)[0] == (minute, 35.0, 10.0, 60.0, 6)

    # A later batch adding to the same minute refreshes that minute's rollup from all its samples.
    extra = {
        "device": "board-7",
        "samples": [{"metric": "cpu.utilization", "ts": wire(minute + dt.timedelta(seconds=5)), "value": 100}],
    }
    assert post(api_client, token, extra).json()["accepted"] == 1
    assert rollups(device)[0] == (minute, pytest.approx(310 / 7), 10.0, 100.0, 7)

    device.refresh_from_db()
    assert device.last_seen_at is not None
    assert device.labels == {"site": "lyon", "isa": "rv64"}  # reported labels are added, set ones kept


def test_readings_of_one_instant_are_kept_as_their_maximum(api_client, pushing_device):
    device, token = pushing_device
    ts = wire(timezone.now() - dt.timedelta(seconds=30))
    body = {
        "device": "board-7",
        "samples": [
            {"metric": "temperature.c", "ts": ts, "value": 48.25, "labels": {"zone": "thermal_zone0"}},
            {"metric": "temperature.c", "ts": ts, "value": 51.5, "labels": {"zone": "thermal_zone1"}},
        ],
    }
    assert post(api_client, token, body).json() == {"accepted": 2, "duplicates": 0, "late": 0, "errors": []}
    assert list(Sample.objects.filter(device=device).values_list("value", flat=True)) == [51.5]
    assert post(api_client, token, body).json() == {"accepted": 0, "duplicates": 2, "late": 0, "errors": []}


def test_bad_samples_are_refused_one_by_one_with_index_and_field(api_client, pushing_device):
    device, token = pushing_device
    now = timezone.now()
    good = wire(now - dt.timedelta(seconds=20))
    body = (
        '{"device": "board-7", "samples": ['
        f'{{"metric": "cpu.utilization", "ts": "{good}", "value": 42.5}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now - dt.timedelta(seconds=10))}", "value": NaN}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now - dt.timedelta(seconds=9))}", "value": Infinity}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now + dt.timedelta(hours=2))}", "value": 1}},'
        f'{{"metric": "gpu.flux_capacitance", "ts": "{good}", "value": 1}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now - dt.timedelta(seconds=8))}", "value": 250}},'
        f'{{"metric": "cpu.utilization", "ts": "yesterday", "value": 1}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now - dt.timedelta(days=400))}", "value": 1}},'
        f'{{"metric": "cpu.utilization", "ts": "{wire(now - dt.timedelta(seconds=7))}", "value": "12"}},'
        '"not a sample"]}'
    )
    response = post(api_client, token, body, raw=True)
    assert response.status_code == 200, response.content
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (1, 0)
    assert [(e["index"], e["field"]) for e in result["errors"]] == [
        (1, "value"),
        (2, "value"),
        (3, "ts"),
        (4, "metric"),
        (5, "value"),
        (6, "ts"),
        (7, "ts"),
        (8, "value"),
        (9, "sample"),
    ]
    messages = {e["index"]: e["message"] for e in result["errors"]}
    assert "finite" in messages[1] and "finite" in messages[2]
    assert "300 s in the future" in messages[3]
    assert "Unknown metric 'gpu.flux_capacitance'" in messages[4]
    assert "outside the range of cpu.utilization" in messages[5]
    assert "30-day raw retention" in messages[7]
    assert list(Sample.objects.filter(device=device).values_list("value", flat=True)) == [42.5]


def test_tokens_sizes_and_shapes_are_checked_before_anything_is_stored(api_client, pushing_device, people, client_for):
    device, token = pushing_device
    body = batch(timezone.now() - dt.timedelta(minutes=2), [1, 2, 3, 4])

    assert post(api_client, "gtd_0000_wrong", body).status_code == 401
    missing = api_client.post(URL, data=json.dumps(body), content_type="application/json")
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == "Device"
    bearer = api_client.post(URL, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION="Bearer x")
    assert bearer.status_code == 401

    other_key = post(api_client, token, {**body, "device": "board-8"})
    assert other_key.status_code == 403 and "belongs to device 'board-7'" in other_key.json()["message"]

    with override_settings(COMPUTE_INGEST_MAX_BATCH=3):
        too_many = post(api_client, token, body)
    assert too_many.status_code == 413
    assert too_many.json() == {"message": "At most 3 samples per batch; this one has 4.", "extra": {"max_batch": 3}}

    assert post(api_client, token, "{not json", raw=True).status_code == 400
    no_list = post(api_client, token, {"device": "board-7", "samples": "many"})
    assert no_list.status_code == 400 and no_list.json()["extra"]["fields"] == {
        "samples": ["A list of samples is required."]
    }
    assert post(api_client, token, [1, 2], raw=False).status_code == 400
    assert not Sample.objects.exists()

    # The device token opens the ingest only; a rotated token stops working at once.
    listing = api_client.get("/api/compute/devices/", HTTP_AUTHORIZATION=f"Device {token}")
    assert listing.status_code in (401, 403)
    _, new_token = device_rotate_token(device=device, by=people["engineer"])
    assert post(api_client, token, body).status_code == 401
    assert post(api_client, new_token, body).json()["accepted"] == 4


def test_device_registration_shows_the_token_once(org, people, client_for, outsider):
    client = client_for(people["engineer"])
    created = client.post(
        "/api/compute/devices/", {"key": "board-9", "kind": "edge", "labels": {"site": "lyon"}}, format="json"
    )
    assert created.status_code == 201, created.json()
    token = created.json()["token"]
    assert token.startswith("gtd_") and created.json()["has_token"] is True
    device = Device.objects.get(pk=created.json()["id"])
    assert token not in (device.token_hash or "") and len(device.token_hash) == 64
    assert "token" not in client.get(f"/api/compute/devices/{device.pk}/").json()
    assert client.post("/api/compute/devices/", {"key": "board-9"}, format="json").status_code == 409
    assert client_for(people["viewer"]).post("/api/compute/devices/", {"key": "x"}, format="json").status_code == 403
    assert client_for(outsider).get(f"/api/compute/devices/{device.pk}/").status_code == 404
    rotated = client.post(f"/api/compute/devices/{device.pk}/rotate-token/")
    assert rotated.status_code == 200 and rotated.json()["token"] != token


def test_retention_drops_old_raw_samples_and_keeps_rollups(api_client, pushing_device, settings):
    device, token = pushing_device
    # A board allowed to be a month late: its old samples are on time and rolled up.
    settings.COMPUTE_LATENESS_SECONDS = {**settings.COMPUTE_LATENESS_SECONDS, "edge": 31 * 86400}
    now = timezone.now()
    old_minute = (now - dt.timedelta(days=29, hours=23)).replace(second=0, microsecond=0)
    post(api_client, token, batch(old_minute, [10, 20]))
    post(api_client, token, batch(now.replace(second=0, microsecond=0) - dt.timedelta(minutes=1), [30]))
    assert Sample.objects.count() == 3

    assert samples_purge_expired(now=now + dt.timedelta(hours=2)) == 2
    assert list(Sample.objects.values_list("value", flat=True)) == [30.0]
    assert SampleRollup.objects.filter(device=device).count() == 2


def test_samples_api_answers_raw_for_short_ranges_and_rollups_for_long_ones(
    api_client, pushing_device, people, client_for, outsider
):
    device, token = pushing_device
    minute = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    post(api_client, token, batch(minute, [10, 20, 30, 40, 50, 60, 70]))
    client = client_for(people["viewer"])
    query = {"device": str(device.pk), "metric": "cpu.utilization"}

    raw = client.get("/api/compute/samples/", {**query, "start": wire(minute - dt.timedelta(minutes=1))})
    assert raw.status_code == 200, raw.json()
    assert raw.json()["resolution"] == "raw" and [p["value"] for p in raw.json()["points"]] == [
        10,
        20,
        30,
        40,
        50,
        60,
        70,
    ]

    long = client.get("/api/compute/samples/", {**query, "start": wire(minute - dt.timedelta(days=2))})
    assert long.json()["resolution"] == "minute"
    assert [(p["avg"], p["count"]) for p in long.json()["points"]] == [(35.0, 6), (70.0, 1)]

    csv_text = b"".join(
        client.get(
            "/api/compute/samples/", {**query, "start": wire(minute - dt.timedelta(days=2)), "format": "csv"}
        ).streaming_content
    )
    assert csv_text.decode().splitlines()[0] == "ts,avg,min,max,count"

    assert (
        client.get("/api/compute/samples/", {**query, "start": wire(minute - dt.timedelta(days=40))}).status_code == 400
    )
    assert client_for(outsider).get("/api/compute/samples/", {**query, "start": wire(minute)}).status_code == 404


def test_a_batch_larger_than_the_api_body_limit_but_within_the_ingest_limit_is_stored(api_client, pushing_device):
    device, token = pushing_device
    body = batch(timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=3), [5, 6, 7])
    # Whitespace is valid JSON: a 3 MiB body (above DATA_UPLOAD_MAX_MEMORY_SIZE) of three samples.
    padded = json.dumps(body) + " " * (3 * 1024 * 1024)
    response = post(api_client, token, padded, raw=True)
    assert response.status_code == 200, response.content[:300]
    assert response.json() == {"accepted": 3, "duplicates": 0, "late": 0, "errors": []}

    with override_settings(COMPUTE_INGEST_MAX_BYTES=1024 * 1024):
        too_large = post(api_client, token, padded, raw=True)
    assert too_large.status_code == 413

    deep = post(api_client, token, '{"device": "board-7", "samples": ' + "[" * 100_000 + "}", raw=True)
    assert deep.status_code == 400
    assert deep.json()["extra"]["fields"] == {"body": ["The request body is JSON nested deeper than 64 levels."]}
    assert Sample.objects.filter(device=device).count() == 3
