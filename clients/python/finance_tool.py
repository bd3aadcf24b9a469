"""A finance tool's whole job through the Python client generated from govtrack's schema, and nothing else:
create a funder and a grant with milestones, walk the milestones page by page, download them as CSV, post a KPI
reading. Type-checked with mypy against the generated client, then run against a live server
(scripts/api_clients.sh). Exits non-zero on the first thing that is not as the schema promised."""

import datetime as dt
import os
import sys
import uuid
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from govtrack_client import AuthenticatedClient
from govtrack_client.api.funders import funders_create
from govtrack_client.api.grants import grants_create
from govtrack_client.api.kpi_readings import kpi_readings_create
from govtrack_client.api.milestones import milestones_create, milestones_list
from govtrack_client.models import (
    Error,
    Funder,
    FunderInputRequest,
    FunderKindEnum,
    GrantDetail,
    GrantInputRequest,
    KpiReading,
    KpiReadingInputRequest,
    MetricEnum,
    MilestoneDetail,
    MilestoneInputRequest,
    MilestoneOrderingEnum,
)
from govtrack_client.types import UNSET, Unset

MILESTONES = 5
T = TypeVar("T")


def expect(answer: T | Error | None, kind: type[T]) -> T:
    if not isinstance(answer, kind):
        sys.exit(f"expected a {kind.__name__}, got {answer!r}")
    return answer


def cursor_of(link: str | Unset | None) -> str | None:
    """The `cursor` of a `next` URL (docs/api.md, Pagination), or None at the last page."""
    if not isinstance(link, str):
        return None
    return parse_qs(urlsplit(link).query)["cursor"][0]


def main() -> None:
    client = AuthenticatedClient(base_url=os.environ["GOVTRACK_URL"], token=os.environ["GOVTRACK_TOKEN"])
    run = uuid.uuid4().hex[:8]

    funder = expect(
        funders_create.sync(
            client=client, body=FunderInputRequest(name=f"Agency {run}", kind=FunderKindEnum.GOVERNMENT_AGENCY)
        ),
        Funder,
    )
    grant = expect(
        grants_create.sync(
            client=client,
            idempotency_key=f"grant-{run}",
            body=GrantInputRequest(
                funder=funder.id,
                title=f"Edge inference pilot {run}",
                currency="EUR",
                amount_requested="100000.00",
                period_start=dt.date(2026, 1, 1),
                period_end=dt.date(2026, 12, 31),
            ),
        ),
        GrantDetail,
    )
    created = {
        expect(
            milestones_create.sync(
                client=client,
                body=MilestoneInputRequest(
                    grant=grant.id, title=f"M{n}", amount="10000.00", due_date=dt.date(2026, 2 * n + 1, 15)
                ),
            ),
            MilestoneDetail,
        ).id
        for n in range(MILESTONES)
    }

    seen, cursor, pages = [], None, 0
    while True:
        page = milestones_list.sync(
            client=client,
            grant=grant.id,
            ordering=[MilestoneOrderingEnum.DUE_DATE],
            page_size=2,
            cursor=cursor if cursor is not None else UNSET,
        )
        if isinstance(page, Error) or page is None:
            sys.exit(f"listing milestones failed: {page!r}")
        seen += [milestone.id for milestone in page.results]
        pages += 1
        cursor = cursor_of(page.next_)
        if cursor is None:
            break
    if sorted(seen) != sorted(created) or pages != 3:
        sys.exit(f"the walk returned {len(seen)} milestones in {pages} pages, expected {MILESTONES} in 3")

    # A CSV answer is text: the client's own HTTP session downloads it (the generated call parses JSON pages).
    csv = client.get_httpx_client().get("/api/v1/milestones/", params={"grant": str(grant.id), "format": "csv"})
    lines = csv.text.splitlines()
    if not csv.headers["content-type"].startswith("text/csv") or len(lines) != MILESTONES + 1:
        sys.exit(f"the CSV export has {len(lines)} lines: {csv.text[:200]!r}")

    reading = expect(
        kpi_readings_create.sync(
            client=client,
            body=KpiReadingInputRequest(
                metric=MetricEnum.REVENUE,
                value="125000.50",
                unit="EUR",
                period_start=dt.date(2026, 7, 1),
                period_end=dt.date(2026, 7, 31),
                source=f"finance-tool-{run}",
            ),
        ),
        KpiReading,
    )
    print(
        f"python client: grant {grant.id} with {len(created)} milestones, walked in {pages} pages, "
        f"CSV of {len(lines) - 1} rows, KPI reading {reading.id} ({reading.value})"
    )


if __name__ == "__main__":
    main()
