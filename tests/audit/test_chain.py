"""The audit chain catches rows edited, deleted or inserted behind the application's back (raw SQL)."""

import datetime as dt
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AuditChainHead, AuditEvent
from apps.audit.services import audit_record
from apps.audit.verification import verify_chain
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    org = OrganizationFactory()
    actor = UserFactory()
    for n in range(5):
        audit_record(
            action="grant.updated", actor=actor, organization=org, obj=org, before={"n": n}, after={"n": n + 1}
        )
    return str(org.pk)


def tamper(sql: str, params: list) -> None:
    """Runs SQL with the append-only trigger switched off, as an attacker with table rights could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
            cursor.execute(sql, params)


def event(chain_name, seq) -> AuditEvent:
    return AuditEvent.objects.get(chain=chain_name, seq=seq)


def verify_command(chain_name=None) -> tuple[bool, str]:
    """`manage.py audit_verify --chain NAME`, or of every chain when `chain_name` is None."""
    out = io.StringIO()
    try:
        call_command("audit_verify", *(["--chain", chain_name] if chain_name else []), stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def test_intact_chain_verifies(chain):
    report = verify_chain(chain)
    assert report.ok and report.events == 5
    ok, output = verify_command(chain)
    assert ok and "chain intact" in output


def test_edited_event_is_named(chain):
    target = event(chain, 3)
    tamper("UPDATE audit_auditevent SET after = %s WHERE id = %s", [json.dumps({"n": 999}), target.id])
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq, report.event_id) == (False, "edited", 3, target.id)
    ok, output = verify_command(chain)
    assert not ok and f"Event #3 (id {target.id}, grant.updated) was edited" in output


def test_deleted_event_is_named(chain):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event(chain, 2).id])
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq) == (False, "deleted", 2)
    assert "Event #2 is missing (deleted) before event #3" in report.message


def test_deleted_tail_is_caught_by_the_chain_head(chain):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event(chain, 5).id])
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq) == (False, "deleted", 5)


def test_inserted_event_is_named(chain):
    # A forged event slipped in at #3: the later rows are renumbered and the forgery links to #2 correctly.
    from apps.audit.hashing import event_hash

    tamper("UPDATE audit_auditevent SET seq = seq + 1000 WHERE chain = %s AND seq >= 3", [chain])
    tamper("UPDATE audit_auditevent SET seq = seq - 999 WHERE chain = %s AND seq >= 1000", [chain])
    second = event(chain, 2)
    forged = AuditEvent(
        chain=chain,
        seq=3,
        organization_id=second.organization_id,
        actor_repr="mallory",
        action="grant.updated",
        before={},
        after={"approved": True},
        occurred_at=second.occurred_at,
        prev_hash=second.hash,
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq, report.event_id) == (False, "inserted", 3, forged.id)


def test_appended_forgery_with_a_valid_hash_is_caught_by_the_chain_head(chain):
    from apps.audit.hashing import event_hash

    last = event(chain, 5)
    forged = AuditEvent(
        chain=chain,
        seq=6,
        organization_id=last.organization_id,
        action="disbursement.recorded",
        occurred_at=last.occurred_at,
        prev_hash=last.hash,
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)  # INSERT is allowed: the table is append-only, not read-only
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq) == (False, "inserted", 6)


def test_database_refuses_update_and_delete(postgres, chain):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(chain=chain).update(action="hidden")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(chain=chain, seq=1).delete()
    assert verify_chain(chain).ok


def test_an_event_backdated_in_the_database_is_found(chain):
    # occurred_at is part of the hash: moving an event 30 days back breaks the chain at that event.
    target = event(chain, 3)
    tamper("UPDATE audit_auditevent SET occurred_at = occurred_at - interval '30 days' WHERE id = %s", [target.id])
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq, report.event_id) == (False, "edited", 3, target.id)
    ok, output = verify_command()
    assert not ok and f"BROKEN  {chain}: Event #3 (id {target.id}, grant.updated) was edited" in output


def test_audit_verify_of_every_chain_finds_one_whose_head_row_was_deleted(chain):
    other = OrganizationFactory()
    audit_record(action="grant.updated", organization=other, obj=other, after={"n": 1})
    AuditChainHead.objects.filter(chain=chain).delete()  # the head row has no trigger; its events remain
    ok, output = verify_command()
    assert not ok
    assert f"BROKEN  {chain}: Event #1 onward was inserted after the last recorded event #0." in output
    assert f"OK      {other.pk}: 1 events, chain intact." in output
    assert "1 of 2 audit chain(s) broken." in output


def test_an_events_hash_is_the_documented_sha256_of_its_content(chain):
    # docs/audit.md: SHA-256(prev_hash + canonical JSON of the content fields); computed here with the standard
    # library alone, not with apps.audit.hashing.
    previous = "0" * 64
    for seq in range(1, 6):
        row = event(chain, seq)
        occurred = row.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        content = {
            "chain": chain,
            "seq": seq,
            "organization_id": chain,
            "actor_id": str(row.actor_id),
            "actor_repr": row.actor_repr,
            "action": "grant.updated",
            "object_type": "tenancy.organization",
            "object_id": chain,
            "object_repr": row.object_repr,
            "before": {"n": seq - 1},
            "after": {"n": seq},
            "request_id": "",
            "occurred_at": occurred,
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert row.prev_hash == previous
        assert row.hash == hashlib.sha256((previous + text).encode()).hexdigest(), f"event #{seq}"
        previous = row.hash
    assert AuditChainHead.objects.get(chain=chain).hash == previous
