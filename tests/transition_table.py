"""Drives a state machine's transitions through the API, one row of an explicit table at a time.

Each row names a transition, the state it starts from, the state it leads to, the roles that may take it, a
state it must refuse, and the request body. For every role of the organization a fresh object is put in the
source state and the role posts the action: an allowed role gets 200, the new state and an audit event with
before/after; any other role gets a 403 that names its role, and nothing changes. The wrong state is a 409.
"""

from dataclasses import dataclass, field

from apps.audit.models import AuditEvent
from apps.tenancy.models import Role


@dataclass(frozen=True)
class Row:
    name: str
    source: str
    target: str
    roles: frozenset[str]
    wrong_state: str
    body: dict = field(default_factory=dict)


def table_covers_machine(table: list[Row], machine) -> None:
    """The table lists every action a person can take on the machine, so a new one cannot go untested."""
    assert sorted(row.name for row in table) == sorted(t.name for t in machine.transitions if not t.system)


def check_row(row: Row, *, machine, people, client_for, make_in, url: str, organization: str) -> None:
    path = row.name.replace("_", "-")
    for role in Role.values:
        obj = make_in(row.source)
        seq_before = AuditEvent.objects.filter(object_id=str(obj.pk)).count()
        response = client_for(people[role]).post(f"{url}{obj.pk}/{path}/", row.body, format="json")
        obj.refresh_from_db()
        if role in row.roles:
            assert response.status_code == 200, (row.name, role, response.json())
            assert response.json()["status"] == row.target == obj.status
            event = AuditEvent.objects.filter(object_id=str(obj.pk)).latest("seq")
            assert event.action == (machine[row.name].audit_action or machine.audit_action)
            assert (event.before["status"], event.after["status"]) == (row.source, row.target)
            assert event.actor_repr == people[role].username
        else:
            assert response.status_code == 403, (row.name, role, response.json())
            assert response.json()["message"].endswith(f"Your role in {organization} is {role}.")
            assert obj.status == row.source
            assert AuditEvent.objects.filter(object_id=str(obj.pk)).count() == seq_before

    obj = make_in(row.wrong_state)
    response = client_for(people[Role.OWNER]).post(f"{url}{obj.pk}/{path}/", row.body, format="json")
    assert response.status_code == 409, (row.name, response.json())
    assert response.json()["message"].startswith(f"Cannot {machine[row.name].verb} ")
    assert response.json()["extra"]["status"] == row.wrong_state
    obj.refresh_from_db()
    assert obj.status == row.wrong_state
