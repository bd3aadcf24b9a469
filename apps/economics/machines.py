"""The initiative state machine, declared once (see apps/core/transitions.py):

planned → in_progress → done;  in_progress ⇄ blocked;  planned, in_progress, blocked → dropped (with a reason)
"""

from apps.core.transitions import Machine, Transition
from apps.economics import permissions as p
from apps.economics.models import Initiative, InitiativeStatus

S = InitiativeStatus

INITIATIVES = Machine(
    model=Initiative,
    audit_action="initiative.status_changed",
    permission_on="object",
    transitions=[
        Transition("start", (S.PLANNED,), S.IN_PROGRESS, p.can_work_on_initiative, "start", "Start"),
        Transition(
            "block", (S.IN_PROGRESS,), S.BLOCKED, p.can_work_on_initiative, "block", "Mark blocked", reason="required"
        ),
        Transition("unblock", (S.BLOCKED,), S.IN_PROGRESS, p.can_work_on_initiative, "unblock", "Unblock"),
        Transition(
            "complete",
            (S.IN_PROGRESS,),
            S.DONE,
            p.can_work_on_initiative,
            "complete",
            "Mark done",
            stamp="completed_at",
        ),
        Transition(
            "drop",
            (S.PLANNED, S.IN_PROGRESS, S.BLOCKED),
            S.DROPPED,
            p.can_work_on_initiative,
            "drop",
            "Drop",
            reason="required",
            confirm="Drop this initiative?",
        ),
    ],
)
