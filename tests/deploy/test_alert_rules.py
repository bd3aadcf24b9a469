"""The alert rules (promtool's own tests), the PrometheusRule that carries them to the Operator, and the Grafana
dashboard: every metric they name is one that /metrics serves."""

import json
import re
import shutil
import subprocess

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.escrow.models import SyncCursor
from tests.escrow.conftest import anvil  # noqa: F401 - the real chain node, so the chain-lag figures are served
from tests.workers import ROOT

RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "rules_test.yml"
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "govtrack.json"
PROMQL_FUNCTIONS_AND_WORDS = {
    "sum", "max", "min", "rate", "increase", "delta", "histogram_quantile", "time",
}  # fmt: skip
PROMETHEUS_OWN = {"up"}  # the series Prometheus writes for every target


def promtool(*args) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if not binary:
        pytest.fail("promtool is needed (Debian package prometheus, deploy/apt-packages-test.txt)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def test_rules_are_valid_and_pass_their_promtool_tests():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULES_TEST.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_the_prometheusrule_carries_the_same_rules():
    import yaml

    plain = yaml.safe_load(RULES.read_text())
    operator = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"] == plain


def series_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_selectors = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without)\s*\([^)]*\)", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_selectors))
    return {w for w in words if w not in PROMQL_FUNCTIONS_AND_WORDS and not re.fullmatch(r"\d+[smhd]?", w)}


@pytest.fixture
def served(db, settings, anvil):  # noqa: F811 - the fixture imported above
    """Every series name /metrics can serve, read from a scrape with a chain node, an indexed block and a finished
    audit verification (the figures that appear only then)."""
    from apps.audit.tasks import audit_verify_chains

    settings.METRICS_TOKEN = "t"
    settings.ETH_RPC_URL = anvil.url
    SyncCursor.objects.create(chain_id=settings.ETH_CHAIN_ID, contract_address="0x" + "1" * 40, last_block=0)
    audit_verify_chains()
    client = Client()
    client.get("/healthz")
    answer = client.get("/metrics", headers={"Authorization": "Bearer t"})
    assert answer.status_code == 200
    names = set()
    for family in text_string_to_metric_families(answer.content.decode()):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names |= {family.name + suffix for suffix in suffixes}
    return names


def test_rules_and_dashboard_name_only_served_metrics(served):
    import yaml

    assert {"govtrack_chain_lag_blocks", "govtrack_audit_chains_broken", "govtrack_ingest_samples_total"} <= served
    rule_exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    panel_exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert dashboard["uid"] and len(panel_exprs) >= 10
    for expr in rule_exprs + panel_exprs:
        unknown = series_names(expr) - served - PROMETHEUS_OWN
        assert not unknown, f"{expr!r} names {unknown}, which /metrics does not serve"
