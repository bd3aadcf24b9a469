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
    assert report.message == f"Event #3 (id {forged.id}) was inserted: event #4 links past it."
    assert (report.chain, report.events) == (chain, 4)


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


def reforge(chain_name, seq, **changes) -> AuditEvent:
    """Edits an event and recomputes its own hash, as an attacker who knows the format would (raw SQL)."""
    from apps.audit.hashing import event_hash

    target = event(chain_name, seq)
    for name, value in changes.items():
        setattr(target, name, value)
    target.hash = event_hash(target)
    tamper(
        "UPDATE audit_auditevent SET after = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [json.dumps(target.after), target.prev_hash, target.hash, target.id],
    )
    return target


def test_every_report_names_the_chain_the_seq_the_row_and_the_events_read(chain):
    """The whole report of each way a chain breaks, as `audit_verify` prints it to an auditor."""
    ids = {seq: event(chain, seq).id for seq in range(1, 6)}
    head = AuditChainHead.objects.get(chain=chain)

    assert verify_chain(chain) == verify_chain(chain).__class__(
        chain, 5, True, head_hash=head.hash, message="5 events, chain intact."
    )

    tamper("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [ids[2], ids[3]])
    report = verify_chain(chain)
    assert (report.chain, report.events, report.ok, report.problem, report.seq, report.event_id) == (
        chain,
        2,
        False,
        "deleted",
        2,
        ids[4],
    )
    assert report.message == f"Event #2-#3 is missing (deleted) before event #4 (id {ids[4]})."


def test_a_deleted_first_event_is_a_deletion_not_an_edit(chain):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event(chain, 1).id])
    report = verify_chain(chain)
    assert (report.problem, report.seq, report.events) == ("deleted", 1, 1)
    assert report.message == f"Event #1 is missing (deleted) before event #2 (id {event(chain, 2).id})."


def test_an_edited_event_with_a_recomputed_hash_is_found_by_the_next_link(chain):
    forged = reforge(chain, 3, after={"n": 999})
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq, report.event_id, report.events) == (
        False,
        "edited",
        3,
        forged.id,
        4,
    )
    assert report.message == f"Event #3 (id {forged.id}) was edited: event #4 no longer links to it."
    assert report.chain == chain


def test_an_edited_last_event_with_a_recomputed_hash_is_found_by_the_chain_head(chain):
    forged = reforge(chain, 5, after={"n": 999})
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.seq, report.event_id, report.events) == (
        False,
        "edited",
        5,
        forged.id,
        5,
    )
    assert report.message == f"Event #5 (id {forged.id}) was edited: it no longer matches the recorded chain head."
    assert report.chain == chain


def test_an_edited_events_own_hash_mismatch_names_it(chain):
    target = event(chain, 4)
    tamper("UPDATE audit_auditevent SET after = %s WHERE id = %s", [json.dumps({"n": -1}), target.id])
    report = verify_chain(chain)
    assert (report.seq, report.event_id, report.events) == (4, target.id, 4)
    assert report.message == (
        f"Event #4 (id {target.id}, grant.updated) was edited: its content no longer matches its hash."
    )
    assert report.chain == chain


@pytest.mark.parametrize(
    ("deleted", "message"),
    [
        ((5,), "Event #5 at the end of the chain is missing (deleted)."),
        ((4, 5), "Event #4-#5 at the end of the chain is missing (deleted)."),
    ],
)
def test_a_deleted_tail_names_what_is_missing(chain, deleted, message):
    for seq in deleted:
        tamper("DELETE FROM audit_auditevent WHERE id = %s", [event(chain, seq).id])
    report = verify_chain(chain)
    assert (report.problem, report.seq, report.event_id, report.events) == (
        "deleted",
        deleted[0],
        None,
        5 - len(deleted),
    )
    assert report.message == message
    assert report.chain == chain


def test_an_inserted_event_names_the_forgery_and_the_appended_one_the_head(chain):
    from apps.audit.hashing import event_hash

    last = event(chain, 5)
    forged = AuditEvent(
        chain=chain, seq=6, organization_id=last.organization_id, action="x", occurred_at=last.occurred_at
    )
    forged.prev_hash = last.hash
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    report = verify_chain(chain)
    assert (report.problem, report.seq, report.event_id, report.events) == ("inserted", 6, None, 6)
    assert report.message == "Event #6 onward was inserted after the last recorded event #5."
    assert report.chain == chain
