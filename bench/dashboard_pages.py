"""Dashboard pages and the grant report PDF, on a realistic organization in PostgreSQL.

1,000 grants, 10,000 milestones, 100 risks, 48 devices with 1M raw samples (generate_series) and a day of
per-minute rollups, two investments (10 and 50 milestones). Prints the server time (p50/p95 over 50 requests,
in-process, no network) and the query count of the overview and of grant and investment pages, the PDF time of a
50-milestone grant and investment, and the ratio of each page to the sign-in page measured in the same run (the
baseline: a page with no data at all).

Goals: pages p50 < 150 ms with a query count that does not grow with the data; PDF < 1.5 s.
Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/dashboard_pages.py
"""

import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.benchdb import bench_database, django_setup, percentile

GRANTS, MILESTONES_PER_GRANT, RISKS = 1000, 10, 100
GPUS, BOARDS, SAMPLES = 40, 8, 1_000_000
REQUESTS, PDF_RUNS, PDF_MILESTONES = 50, 3, 50
PAGE_GOAL_MS, PDF_GOAL_S = 150, 1.5


def seed():
    from django.db import connection
    from django.utils import timezone

    from apps.compute.models import Device, DeviceKind
    from apps.funding.models import Evidence, Funder, Grant, Investment, Milestone, MilestoneCriterion
    from apps.risks.models import Risk
    from apps.risks.services.matrices import risk_matrix_create
    from apps.risks.services.registers import risk_register_create
    from apps.tenancy.models import Membership, Organization, User

    org = Organization.objects.create(name="Bench Org", slug="bench-org")
    user = User.objects.create(username="bench-finance")
    Membership.objects.create(organization=org, user=user, role="owner")
    funder = Funder.objects.create(organization=org, name="Agency", kind="government_agency")
    today = timezone.localdate()
    grants = Grant.objects.bulk_create(
        [
            Grant(
                organization=org,
                funder=funder,
                title=f"Grant {n:04d}",
                currency="EUR",
                amount_requested=Decimal("1000000"),
                amount_awarded=Decimal("900000"),
                period_start=today - dt.timedelta(days=365),
                period_end=today + dt.timedelta(days=730),
                status=["draft", "submitted", "under_review", "awarded", "active"][n % 5],
                owner=user,
            )
            for n in range(GRANTS + 1)
        ]
    )
    statuses = ["planned", "in_progress", "submitted", "verified", "released"]
    milestones = Milestone.objects.bulk_create(
        [
            Milestone(
                organization=org,
                grant=grant,
                title=f"{grant.title} M{m}",
                amount=Decimal("50000") if index < GRANTS else Decimal("10000"),
                currency="EUR",
                due_date=today + dt.timedelta(days=(m * 37 + index) % 400 - 100),
                status=statuses[(index + m) % 5],
            )
            for index, grant in enumerate(grants)
            for m in range(MILESTONES_PER_GRANT if index < GRANTS else PDF_MILESTONES)
        ],
        batch_size=5000,
    )
    big = grants[-1]
    # The two grant pages measured (10 and 50 milestones) have the same kind of milestones: a criterion and a file.
    shown = [m for m in milestones if m.grant_id in (grants[0].pk, big.pk)]
    MilestoneCriterion.objects.bulk_create(
        [
            MilestoneCriterion(milestone=m, kind="manual", description=f"Report {m.title} accepted",
                               config={"approver_roles": ["owner"]})
            for m in shown
        ]
    )  # fmt: skip
    Evidence.objects.bulk_create(
        [
            Evidence(milestone=m, file=f"evidence/{m.pk}", original_name=f"{m.title}.pdf",
                     content_type="application/pdf", size=123456, sha256=f"{i:064x}", uploaded_by=user)
            for i, m in enumerate(shown)
        ]
    )  # fmt: skip

    investor = Funder.objects.create(organization=org, name="Ventures", kind="private_investor")
    investments = Investment.objects.bulk_create(
        [
            Investment(organization=org, investor=investor, title=f"Round {n}", instrument="safe", currency="EUR",
                       committed_amount=Decimal("5000000"), status="active", owner=user)
            for n in range(2)
        ]
    )  # fmt: skip
    investment_milestones = Milestone.objects.bulk_create(
        [
            Milestone(organization=org, investment=investment, title=f"{investment.title} M{m}",
                      amount=Decimal("50000"), currency="EUR", due_date=today + dt.timedelta(days=m * 11 - 100),
                      status=statuses[m % 5])
            for investment, count in zip(investments, (MILESTONES_PER_GRANT, PDF_MILESTONES), strict=True)
            for m in range(count)
        ]
    )  # fmt: skip
    MilestoneCriterion.objects.bulk_create(
        [
            MilestoneCriterion(milestone=m, kind="manual", description=f"Report {m.title} accepted",
                               config={"approver_roles": ["owner"]})
            for m in investment_milestones
        ]
    )  # fmt: skip
    Evidence.objects.bulk_create(
        [
            Evidence(milestone=m, file=f"evidence/{m.pk}", original_name=f"{m.title}.pdf",
                     content_type="application/pdf", size=123456, sha256=f"{i:064x}", uploaded_by=user)
            for i, m in enumerate(investment_milestones)
        ]
    )  # fmt: skip

    matrix = risk_matrix_create(organization=org, name="5x5", preset="5x5", by=user)
    register = risk_register_create(organization=org, name="Bench register", matrix=matrix, by=user)
    Risk.objects.bulk_create(
        [
            Risk(organization=org, register=register, ref=f"R-{n:03d}", title=f"Risk {n}",
                 category=register.categories[n % len(register.categories)], owner=user,
                 inherent_likelihood=n % 5 + 1, inherent_impact=(n * 3) % 5 + 1, current_likelihood=n % 5 + 1,
                 current_impact=(n * 3) % 5 + 1, residual_likelihood=max(1, n % 5), residual_impact=max(1, (n * 3) % 5),
                 next_review_on=today + dt.timedelta(days=90))
            for n in range(RISKS)
        ]
    )  # fmt: skip

    devices = Device.objects.bulk_create(
        [Device(organization=org, key=f"gpu-{n:02d}", kind=DeviceKind.GPU) for n in range(GPUS)]
        + [Device(organization=org, key=f"board-{n}", kind=DeviceKind.EDGE) for n in range(BOARDS)]
    )
    per_device = SAMPLES // len(devices)
    with connection.cursor() as cursor:
        # 1M raw samples, every 10 s back from now, in one statement; then a day of per-minute rollups from them.
        cursor.execute(
            """
            INSERT INTO compute_sample (device_id, metric, ts, value)
            SELECT d.id, CASE WHEN d.kind = 'gpu' THEN 'gpu.utilization' ELSE 'cpu.utilization' END,
                   date_trunc('second', now()) - make_interval(secs => g * 10),
                   50 + 40 * sin(g / 500.0) + random() * 5
            FROM compute_device d CROSS JOIN generate_series(1, %s) AS g
            WHERE d.organization_id = %s
            """,
            [per_device, org.pk],
        )
        cursor.execute(
            """
            INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count)
            SELECT device_id, metric, date_trunc('minute', ts), avg(value), min(value), max(value), count(*)
            FROM compute_sample WHERE ts >= now() - interval '24 hours' GROUP BY 1, 2, 3
            """
        )
        cursor.execute("ANALYZE")
    return user, grants[0], big, investments, len(devices)


def measure(client, url: str) -> dict:
    from django.db import connection

    client.get(url)  # warm: templates compiled, caches filled
    captured = []
    # Counted at the driver: Django's own query log is cleared at each request start when DEBUG is on.
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: captured.append(sql) or execute(sql, params, many, context)
    ):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "queries": len(captured)}


def main() -> None:
    load_at_start = os.getloadavg()[0]
    with bench_database("dashboard") as url:
        django_setup(url)
        from django.conf import settings
        from django.test import Client

        from apps.compute.models import Sample, SampleRollup
        from apps.funding.models import Milestone
        from apps.reports.services import grant_report_render

        settings.ALLOWED_HOSTS = ["*"]
        started = time.perf_counter()
        user, grant, big, investments, device_count = seed()
        print(
            f"seeded in {time.perf_counter() - started:.1f} s: {GRANTS + 1} grants, {Milestone.objects.count()} "
            f"milestones, {RISKS} risks, {device_count} devices, {Sample.objects.count()} samples, "
            f"{SampleRollup.objects.count()} rollups"
        )
        client = Client()
        client.force_login(user)
        baseline = measure(Client(), "/accounts/login/")
        pages = {
            "overview": "/",
            "grant page (10 milestones)": f"/grants/{grant.pk}/",
            f"grant page ({PDF_MILESTONES} milestones)": f"/grants/{big.pk}/",
            "investment page (10 milestones)": f"/investments/{investments[0].pk}/",
            f"investment page ({PDF_MILESTONES} milestones)": f"/investments/{investments[1].pk}/",
            "compute page": "/compute/",
            "risks page": "/risks/",
            "grants list": "/grants/",
            "grants list, searched": "/grants/?q=grant+09&sort=-budget",
            "compliance page": "/compliance/",
            "waiting for me": "/waiting/",
            "audit log": "/audit-log/",
        }
        results = {name: measure(client, path) for name, path in pages.items()}
        print(f"\nbaseline sign-in page: p50 {baseline['p50']:.1f} ms ({baseline['queries']} queries)")
        print(
            f"{'page':<30} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'x baseline':>11}  goal p50 < {PAGE_GOAL_MS} ms"
        )
        for name, r in results.items():
            verdict = "met" if r["p50"] < PAGE_GOAL_MS else "NOT met"
            ratio = r["p50"] / baseline["p50"]
            print(f"{name:<30} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['queries']:>8} {ratio:>10.1f}x  {verdict}")
        ten, fifty = results["grant page (10 milestones)"], results[f"grant page ({PDF_MILESTONES} milestones)"]
        constant = "constant" if ten["queries"] == fifty["queries"] else "NOT constant"
        print(f"grant page queries: {ten['queries']} with 10 milestones, {fifty['queries']} with 50: {constant}")
        ten = results["investment page (10 milestones)"]
        fifty = results[f"investment page ({PDF_MILESTONES} milestones)"]
        constant = "constant" if ten["queries"] == fifty["queries"] else "NOT constant"
        print(f"investment page queries: {ten['queries']} with 10 milestones, {fifty['queries']} with 50: {constant}")

        from apps.reports.selectors import grant_for_report

        durations, cpu, size = [], [], 0
        for _ in range(PDF_RUNS):
            loaded = grant_for_report(user=user, pk=big.pk)
            start, start_cpu = time.perf_counter(), time.process_time()
            rendered = grant_report_render(grant=loaded, by=user)
            durations.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            size = len(rendered.pdf)
        pdf = statistics.median(durations)
        verdict = "met" if pdf < PDF_GOAL_S else "NOT met"
        print(
            f"\nPDF of a {PDF_MILESTONES}-milestone grant: median {pdf:.2f} s over {PDF_RUNS} runs "
            f"(min {min(durations):.2f} s), {size / 1024:.0f} KiB; goal < {PDF_GOAL_S} s: {verdict}"
        )
        # On a shared machine the wall time grows with the others' load; this process's own CPU time much less so.
        print(f"PDF CPU time of this process: median {statistics.median(cpu):.2f} s (min {min(cpu):.2f} s)")

        from apps.reports.selectors import investment_for_report
        from apps.reports.services import investment_report_render

        durations = []
        for _ in range(PDF_RUNS):
            loaded = investment_for_report(user=user, pk=investments[1].pk)
            start = time.perf_counter()
            rendered = investment_report_render(investment=loaded, by=user)
            durations.append(time.perf_counter() - start)
        pdf = statistics.median(durations)
        verdict = "met" if pdf < PDF_GOAL_S else "NOT met"
        print(
            f"PDF of a {PDF_MILESTONES}-milestone investment: median {pdf:.2f} s over {PDF_RUNS} runs "
            f"(min {min(durations):.2f} s), {len(rendered.pdf) / 1024:.0f} KiB; goal < {PDF_GOAL_S} s: {verdict}"
        )
    print(f"load average (1 min) at start {load_at_start:.1f}, at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
