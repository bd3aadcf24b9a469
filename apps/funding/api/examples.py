"""Examples of the main flows of a finance tool, shown in the schema's docs (docs/api.md, "From first token to first
webhook"). Ids are placeholders; amounts are decimal strings."""

from drf_spectacular.utils import OpenApiExample

GRANT_ID = "3f0c6a52-8d1e-4b57-9a43-5b2f0e6d7c11"
FUNDER_ID = "9b1d2c34-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ORGANIZATION_ID = "c7a8b9d0-1e2f-4a3b-9c4d-5e6f7a8b9c0d"

GRANT_CREATE = OpenApiExample(
    "Create a grant then its milestones",
    summary="A grant of 100,000 EUR for 2026",
    description="Step 1 of creating a grant with milestones: the grant, then `POST /api/v1/milestones/` for each "
    "milestone with its `grant` id. Send an `Idempotency-Key` so that a retry does not create it twice.",
    value={
        "funder": FUNDER_ID,
        "title": "Edge inference pilot",
        "program": "Horizon AI",
        "reference": "HAI-2026-117",
        "focus_areas": ["edge_computing", "ai_infrastructure"],
        "currency": "EUR",
        "amount_requested": "100000.00",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    },
    request_only=True,
)
MILESTONE_CREATE = OpenApiExample(
    "Add a milestone to a grant",
    summary="50,000 EUR due at the end of June",
    description="Step 2 of creating a grant with milestones: one request per milestone; `currency` defaults to the "
    "grant's. Criteria are added with `POST /api/v1/milestones/{id}/criteria/`.",
    value={"grant": GRANT_ID, "title": "Pilot live", "amount": "50000.00", "due_date": "2026-06-30"},
    request_only=True,
)
MILESTONES_DUE_AS_CSV = OpenApiExample(
    "Milestones due this quarter as CSV",
    summary="GET /api/v1/milestones/?due_after=2026-07-01&due_before=2026-09-30&ordering=due_date&format=csv",
    description="Both date bounds are inclusive, so these two are the whole third quarter. Without `format=csv` the "
    "same query pages as JSON: follow `next` until it is null.",
    value=(
        "id,title,funder,grant_id,investment_id,status,due_date,currency,amount,amount_disbursed,submitted_at,"
        "released_at\r\n"
        f"6d1f0b7e-2c4a-4e8b-9f3d-1a2b3c4d5e6f,Pilot live,Horizon AI,{GRANT_ID},,planned,2026-07-15,EUR,50000.00,"
        "0.00,,\r\n"
    ),
    media_type="text/csv",
    response_only=True,
    status_codes=["200"],
)
KPI_READING_CREATE = OpenApiExample(
    "Post a KPI reading",
    summary="July's revenue from the ledger",
    description="KPI criteria of milestones are evaluated from these readings (a read-write token; owner or "
    "finance). The value is a decimal string and comes back without trailing zeros.",
    value={
        "metric": "revenue",
        "value": "125000.50",
        "unit": "EUR",
        "period_start": "2026-07-01",
        "period_end": "2026-07-31",
        "source": "ledger-sync",
    },
    request_only=True,
)
KPI_READING_CREATED = OpenApiExample(
    "A KPI reading as answered",
    value={
        "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "organization": ORGANIZATION_ID,
        "metric": "revenue",
        "value": "125000.5",
        "unit": "EUR",
        "period_start": "2026-07-01",
        "period_end": "2026-07-31",
        "source": "ledger-sync",
        "note": "",
        "created_at": "2026-08-01T06:00:00.000000Z",
    },
    response_only=True,
    status_codes=["201"],
)
