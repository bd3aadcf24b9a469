"""Charts with real time axes, and devices that say when they were last heard from."""

import datetime as dt
import re

import pytest

from apps.dashboard.charts import time_ticks, utilization_chart
from apps.tenancy.models import Role

START = dt.datetime(2026, 11, 24, 11, 26, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("range_key", "span", "first", "count"),
    [
        ("24h", dt.timedelta(hours=24), dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC), 8),
        ("7d", dt.timedelta(days=7), dt.datetime(2026, 11, 25, tzinfo=dt.UTC), 7),
        ("30d", dt.timedelta(days=30), dt.datetime(2026, 11, 25, tzinfo=dt.UTC), 6),
    ],
)
def test_ticks_fall_on_round_hours_and_midnights(range_key, span, first, count):
    ticks = time_ticks(START, START + span, range_key)
    assert ticks[0] == first and len(ticks) == count
    assert all(t.minute == 0 and (range_key == "24h" or t.hour == 0) for t in ticks)


def test_a_week_of_one_day_of_data_is_drawn_across_the_week_with_each_day_once():
    end = START + dt.timedelta(days=7)
    points = [(end - dt.timedelta(hours=h), 60.0) for h in range(1, 20)]
    svg = str(utilization_chart(series=[{"label": "GPUs", "points": points}], start=START, end=end, range_key="7d"))
    labels = re.findall(r">(\d{1,2} (?:Nov|Dec))</text>", svg)
    assert labels == ["25 Nov", "26 Nov", "27 Nov", "28 Nov", "29 Nov", "30 Nov", "1 Dec"]


@pytest.mark.django_db
def test_devices_show_their_newest_data_and_the_range_stays_in_the_url(browser_for, people, fleet):
    client = browser_for(people[Role.ENGINEER])
    page = client.get("/compute/?range=7d").content.decode()
    assert page.count("(newest data)") == 0  # no source here; devices have their own column
    devices = re.findall(r"<td><code>[^<]+</code></td><td>[^<]+</td>.*?<td>(.*?)</td></tr>", page, re.S)
    assert len(devices) == 3 and all("<time" in cell for cell in devices)
    assert '<option value="7d" selected>' in page and 'hx-push-url="true"' in page
    partial = client.get("/compute/?range=30d", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<figure class="chart') and "average utilization (%) per day" in partial
