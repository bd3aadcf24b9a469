"""The app's own URLs plus the benchmark's baseline: the same grant-list payload from hand-written SQL."""

import hashlib
import json
from decimal import Decimal

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path

from govtrack.urls import urlpatterns as app_urlpatterns

GRANTS_SQL = """
SELECT g.id, g.organization_id, g.funder_id, f.name, g.title, g.program, g.reference, g.focus_areas, g.currency,
       g.amount_requested, g.amount_awarded, g.amount_disbursed, g.period_start, g.period_end, g.status,
       g.status_reason, u.username, g.description, g.created_at, g.updated_at
FROM funding_grant g
JOIN funding_funder f ON f.id = g.funder_id
LEFT JOIN tenancy_user u ON u.id = g.owner_id
WHERE g.organization_id IN (SELECT organization_id FROM tenancy_membership WHERE user_id = %s)
ORDER BY g.created_at DESC, g.id DESC
LIMIT %s
"""
MILESTONES_SQL = """
SELECT grant_id, id, title, amount, currency, amount_disbursed, due_date, status
FROM funding_milestone WHERE grant_id = ANY(%s) ORDER BY due_date, created_at
"""


# What the escrow contract still holds per grant (the API's summary.escrowed).
ESCROWED_SQL = """
SELECT a.grant_id, a.token_decimals, SUM(em.amount_base_units - em.withdrawn_base_units)
FROM escrow_escrowmilestone em JOIN escrow_escrowagreement a ON a.id = em.agreement_id
WHERE a.grant_id = ANY(%s) AND a.status IN ('active', 'settled') AND em.onchain_status NOT IN ('refunded', 'cancelled')
GROUP BY a.grant_id, a.token_decimals
"""


def _money(value):
    return None if value is None else f"{value:.2f}"


def raw_grant_list(request):
    header = request.headers.get("Authorization", "")
    raw = header.removeprefix("Bearer ").strip()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id FROM tenancy_apitoken WHERE key_hash = %s AND revoked_at IS NULL AND expires_at > now()",
            [hashlib.sha256(raw.encode()).hexdigest()],
        )
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"message": "Invalid API token.", "extra": {}}, status=401)
        page_size = min(int(request.GET.get("page_size", 50)), 200)
        cursor.execute(GRANTS_SQL, [row[0], page_size])
        grants = cursor.fetchall()
        cursor.execute(MILESTONES_SQL, [[g[0] for g in grants]])
        milestones: dict = {}
        for m in cursor.fetchall():
            milestones.setdefault(m[0], []).append(m[1:])
        cursor.execute(ESCROWED_SQL, [[g[0] for g in grants]])
        escrowed: dict = {}
        for grant_id, decimals, units in cursor.fetchall():
            escrowed[grant_id] = escrowed.get(grant_id, Decimal(0)) + Decimal(units) / Decimal(10) ** decimals
    results = []
    for g in grants:
        items = milestones.get(g[0], [])
        budget = g[10] if g[10] is not None else g[9]
        committed = sum((m[2] for m in items), Decimal(0))
        released = sum((m[2] for m in items if m[6] == "released"), Decimal(0))
        released_unpaid = sum((m[2] - m[4] for m in items if m[6] == "released"), Decimal(0))
        results.append(
            {
                "id": str(g[0]),
                "organization": str(g[1]),
                "funder": str(g[2]),
                "funder_name": g[3],
                "title": g[4],
                "program": g[5],
                "reference": g[6],
                "focus_areas": g[7] if isinstance(g[7], list) else json.loads(g[7]),
                "currency": g[8],
                "amount_requested": _money(g[9]),
                "amount_awarded": _money(g[10]),
                "amount_disbursed": _money(g[11]),
                "period_start": g[12].isoformat(),
                "period_end": g[13].isoformat(),
                "status": g[14],
                "status_reason": g[15],
                "owner": g[16],
                "description": g[17],
                "milestones": [
                    {
                        "id": str(m[0]),
                        "title": m[1],
                        "amount": _money(m[2]),
                        "currency": m[3],
                        "amount_disbursed": _money(m[4]),
                        "due_date": m[5].isoformat(),
                        "status": m[6],
                    }
                    for m in items
                ],
                "summary": {
                    "currency": g[8],
                    "budget": _money(budget),
                    "committed": _money(committed),
                    "released": _money(released),
                    "released_unpaid": _money(released_unpaid),
                    "escrowed": _money(escrowed.get(g[0], Decimal(0))),
                    "disbursed": _money(g[11]),
                    "uncommitted": _money(budget - committed),
                    "undisbursed": _money(budget - g[11]),
                },
                "created_at": g[18].isoformat().replace("+00:00", "Z"),
                "updated_at": g[19].isoformat().replace("+00:00", "Z"),
            }
        )
    body = json.dumps({"next": None, "previous": None, "results": results})
    return HttpResponse(body, content_type="application/json")


urlpatterns = [path("bench/raw-grants/", raw_grant_list), *app_urlpatterns]
