"""The risk state machine, declared once (see apps/core/transitions.py).

The services in apps/risks/services/risks.py call `RISKS.run`; the API's `allowed_actions` and the dashboard's
buttons read this same table. Its permission questions are asked about the risk itself
(`permission_on="object"`): an engineer may start treating a risk they own, but accepting, closing and
reopening stay with owners and compliance.
"""

from apps.core.acceptance import clear_acceptance, record_acceptance
from apps.core.transitions import Machine, Transition
from apps.risks import permissions as p
from apps.risks.models import OPEN_RISK_STATUSES, Risk, RiskStatus

R = RiskStatus

RISKS = Machine(
    model=Risk,
    audit_action="risk.status_changed",
    reason_field=None,
    permission_on="object",
    subject=lambda risk: f"risk {risk.ref}",
    transitions=[
        Transition(
            "start_treatment",
            (R.OPEN,),
            R.TREATING,
            p.can_update_risk,
            "start treating",
            "Start treatment",
            reason="none",
        ),
        Transition(
            "accept",
            OPEN_RISK_STATUSES,
            R.ACCEPTED,
            p.can_decide_risk,
            "accept",
            "Accept the risk",
            record=record_acceptance,
            reason="required",
        ),
        Transition(
            "close",
            (*OPEN_RISK_STATUSES, R.ACCEPTED),
            R.CLOSED,
            p.can_decide_risk,
            "close",
            "Close",
        ),
        Transition(
            "reopen",
            (R.ACCEPTED, R.CLOSED),
            R.OPEN,
            p.can_decide_risk,
            "reopen",
            "Reopen",
            record=clear_acceptance,
        ),
    ],
)
