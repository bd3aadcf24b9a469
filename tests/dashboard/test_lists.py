"""Lists people can work with: search, sort, filters as choices kept in the URL, pages, CSV export; new risks."""

import csv
import io

import pytest

from apps.risks.models import Risk
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_grants_search_sort_page_and_export_keep_the_filters(browser_for, people, make_grant):
    for n in range(30):
        make_grant(title=f"Edge pilot {n:02d}" if n % 2 else f"Cloud study {n:02d}", amount=str(1000 + n))
    client = browser_for(people[Role.FINANCE])
    page = client.get("/grants/?q=edge&sort=-budget").content.decode()
    assert "15 rows." in page and "Cloud study" not in page
    assert page.index("Edge pilot 29") < page.index("Edge pilot 27")  # largest budget first
    assert 'aria-sort="descending"' in page and "q=edge&amp;sort=budget" in page  # toggles, keeps the search
    paged = client.get("/grants/?sort=title&page=2").content.decode()
    assert "Page 2 of 2" in paged and "sort=title&amp;page=1" in paged
    export = client.get("/grants/?q=edge&sort=title&format=csv")
    rows = _csv(export)
    assert export["Content-Type"].startswith("text/csv")
    assert rows[0][:3] == ["Grant", "Funder", "Status"] and len(rows) == 16 and rows[1][0] == "Edge pilot 01"


def test_risk_category_is_a_choice_and_the_heat_map_counts_the_filtered_risks(browser_for, people, make_risk, register):
    make_risk(title="GPU saturation")
    other_category = register.categories[1]
    make_risk(title="Vendor lock-in", category=other_category)
    client = browser_for(people[Role.COMPLIANCE])
    page = client.get("/risks/").content.decode()
    assert f'<option value="{other_category}">' in page and "2 risks." in page
    filtered = client.get(f"/risks/?category={other_category}").content.decode()
    assert "1 risk." in filtered and "Vendor lock-in" in filtered and "GPU saturation" not in filtered
    # The heat map now counts one risk, the filtered one, in its inherent cell (4x4) and residual cell (2x2).
    assert filtered.count('data-count="1"') == 2 and 'data-count="2"' not in filtered
    rows = _csv(client.get(f"/risks/?category={other_category}&format=csv"))
    assert [row[1] for row in rows[1:]] == ["Vendor lock-in"]


def test_a_new_risk_with_a_mitigation_and_its_score_history(browser_for, people, register):
    officer, engineer = people[Role.COMPLIANCE], people[Role.ENGINEER]
    client = browser_for(officer)
    form = client.get("/risks/new/").content.decode()
    assert '<label for="id_title">Risk</label>' in form and f'<option value="{register.categories[0]}">' in form
    created = client.post(
        "/risks/new/",
        {
            "register": str(register.pk),
            "title": "Single GPU vendor",
            "category": register.categories[0],
            "owner": engineer.username,
            "inherent_likelihood": "4",
            "inherent_impact": "5",
            "residual_likelihood": "2",
            "residual_impact": "3",
            "treatment": "mitigate",
        },
    )
    risk = Risk.objects.get(title="Single GPU vendor")
    assert created.status_code == 302 and created["Location"] == f"/risks/{risk.pk}/"
    added = client.post(
        f"/risks/{risk.pk}/mitigations/", {"title": "Qualify a second vendor", "owner": engineer.username}
    )
    assert added.status_code == 302
    mitigation = risk.mitigations.get()
    done = client.post(f"/mitigations/{mitigation.pk}/status/", {"status": "done"}, follow=True).content.decode()
    assert "Mitigation “Qualify a second vendor” is now done." in done
    assert "Score history" in done and "4\u00d75 = 20" in done
    bad = client.post("/risks/new/", {"register": str(register.pk), "title": "x", "inherent_likelihood": "9"})
    assert bad.status_code == 400


def test_findings_sort_by_severity_weight_and_export(browser_for, people, audit):
    from apps.compliance.services.findings import finding_create

    officer = people[Role.COMPLIANCE]
    for title, severity in (("Minor typo", "low"), ("No DPA", "critical"), ("Stale ROPA", "medium")):
        finding_create(
            audit=audit, by=officer, title=title, severity=severity, owner=officer.username, due_date=audit.period_end
        )
    client = browser_for(officer)
    page = client.get("/compliance/?sort=-severity").content.decode()
    assert page.index("No DPA") < page.index("Stale ROPA") < page.index("Minor typo")
    rows = _csv(client.get("/compliance/?severity=critical&format=csv"))
    assert [(row[1], row[2]) for row in rows[1:]] == [("No DPA", "critical")]
