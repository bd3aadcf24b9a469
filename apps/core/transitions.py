"""The transition engine: every state machine of govtrack is declared once, as data, and run the same way.

A `Machine` lists its `Transition`s: the action's name, the states it may start from, the state it leads to, the
permission question that decides who may take it, and its guards. `Machine.run` is the only code that changes a
machine's state field, and it always does the same things in the same order, in one database transaction:

1. lock the rows the machine names as the object's parents (parent before child), then the object's own row;
2. check the actor's role on the locked row (`by=None` is govtrack itself: a beat task, the chain's word);
3. check the source state, then each guard (separation of duties, criteria met, no open actions, ...);
4. let the transition record what it records beside the state (an approval, an award amount) and, where the
   outcome depends on it, decide the target (a release that still needs another approval stays verified);
5. set the state, its reason and its timestamp with `save(update_fields=...)`;
6. write the audit event with before/after (this locks the audit chain head, which is always the last lock);
7. write the side effects (webhook deliveries, chain intents, emails) as outbox rows through the machine's
   `effects`, so they commit or roll back with the change and are dispatched only after commit.

Lock order, everywhere (services, the escrow indexer, the confirmer): grant or investment → escrow agreement →
escrow milestone → milestone → other child rows → the audit chain head. A machine whose rows have parents names
them in `lock_first`; nothing may be locked after the first audit event of a transaction.

The dashboard's buttons, the API's `allowed_actions` and the admin's actions are read from the same tables with
`Machine.actions_for(obj, user)`: each action this object's state allows, whether this user may take it now,
and if not, why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from apps.core.states import require_state

Decision = tuple[bool, str]
# A guard looks at the locked object, the actor and the call's parameters and raises an ApplicationError to refuse.
Guard = Callable[[models.Model, object, dict], None]


@dataclass(frozen=True)
class Transition:
    name: str
    source: tuple[str, ...]
    target: str
    permission: Callable[[object, object], Decision] | None
    verb: str
    label: str
    guards: tuple[Guard, ...] = ()
    # Runs on the locked row after the guards: records what the action records beside the state and returns the
    # state to move to (the object's current state holds it where it is, e.g. a first of two approvals).
    record: Callable[[models.Model, object, dict], str | None] | None = None
    stamp: str | None = None
    reason: str = "optional"  # "none", "optional" or "required"
    system: bool = False  # taken only by govtrack itself (the chain's confirmed events), never by a person
    confirm: str = ""  # what the dashboard asks before an irreversible step
    audit_action: str = ""  # overrides the machine's audit action for this transition

    def __post_init__(self):
        if self.reason not in ("none", "optional", "required"):
            raise ValueError(f"{self.name}: reason must be none, optional or required")


@dataclass(frozen=True)
class ActionState:
    """One action offered on one object for one user: `allowed`, or the `reason` it is not."""

    name: str
    label: str
    allowed: bool
    reason: str = ""
    confirm: str = ""
    reason_required: bool = False

    def as_dict(self) -> dict:
        return {"action": self.name, "label": self.label, "allowed": self.allowed, "reason": self.reason}


class Machine:
    """One state machine: its model, its transitions, and how its changes are audited and announced."""

    def __init__(
        self,
        *,
        model: type[models.Model],
        transitions: Iterable[Transition],
        audit_action: str,
        field: str = "status",
        reason_field: str | None = "status_reason",
        subject: Callable[[models.Model], str] | None = None,
        lock_first: Callable[[models.Model], list[tuple[type[models.Model], object]]] | None = None,
        effects: Callable[[models.Model, str, Transition, object, str], None] | None = None,
        organization_of: Callable[[models.Model], object] | None = None,
        permission_on: str = "organization",
    ):
        self.model = model
        self.transitions = tuple(transitions)
        self.audit_action = audit_action
        self.field = field
        self.reason_field = reason_field
        self.subject = subject
        # (object) -> [(model, pk), ...]: rows locked before the object's own, in that order (the lock order above).
        self.lock_first = lock_first
        # (object, state before, transition, actor, reason) -> None: writes the outbox rows of the change.
        self.effects = effects
        self.organization_of = organization_of or (lambda obj: obj.organization)
        # What the permission questions are asked about: the organization (funding), or the object itself where
        # the answer depends on the row (a finding's or a risk's owner may work on it whatever their role).
        if permission_on not in ("organization", "object"):
            raise ValueError(f"{model.__name__}: permission_on must be organization or object")
        self.permission_on = permission_on
        self.by_name = {t.name: t for t in self.transitions}
        if len(self.by_name) != len(self.transitions):
            raise ValueError(f"{model.__name__}: two transitions share a name")

    # --- reading the table ---------------------------------------------------------------------------------

    def ask(self, transition: Transition, user, obj: models.Model) -> Decision:
        """The transition's permission question for `user` about `obj` (allowed when it has none)."""
        if transition.permission is None:
            return True, ""
        subject = obj if self.permission_on == "object" else self.organization_of(obj)
        return transition.permission(user, subject)

    def __getitem__(self, name: str) -> Transition:
        return self.by_name[name]

    def states_for(self, name: str) -> tuple[str, ...]:
        return self.by_name[name].source

    def person_action(self, name: str) -> Transition:
        """The transition a person asks for by its name (a dashboard form, an admin action): a name the table does
        not offer to people (unknown, or govtrack's own) is refused, naming the field `action`."""
        transition = self.by_name.get(name)
        if transition is None or transition.system:
            raise ValidationFailed.for_field(
                "action", f"'{name}' is not an action a person takes on a {self.model._meta.verbose_name}."
            )
        return transition

    def actions_for(
        self, obj: models.Model, user, *, include_refused: bool = True, role_refusals: bool = True
    ) -> list[ActionState]:
        """The actions a person can take from this object's current state, each with whether `user` may now.

        `role_refusals=False` (the dashboard) leaves out the actions the user's role never allows, and keeps those a
        guard refuses now (separation of duties, criteria not met) so the disabled button can say why."""
        found = []
        current = getattr(obj, self.field)
        for transition in self.transitions:
            if transition.system or current not in transition.source:
                continue
            if not role_refusals and not self.ask(transition, user, obj)[0]:
                continue
            allowed, reason = self._may(transition, obj, user, {})
            if allowed or include_refused:
                found.append(
                    ActionState(
                        name=transition.name,
                        label=transition.label,
                        allowed=allowed,
                        reason=reason,
                        confirm=transition.confirm,
                        reason_required=transition.reason == "required",
                    )
                )
        return found

    def allowed_actions(self, obj: models.Model, user) -> list[str]:
        return [action.name for action in self.actions_for(obj, user, include_refused=False)]

    def _may(self, transition: Transition, obj, user, params: dict) -> Decision:
        allowed, reason = self.ask(transition, user, obj)
        if not allowed:
            return False, reason
        try:
            for guard in transition.guards:
                guard(obj, user, params)
        except ApplicationError as exc:
            return False, exc.message
        return True, ""

    # --- running a transition -----------------------------------------------------------------------------

    def run(self, obj: models.Model, name: str, *, by, reason: str = "", **params) -> models.Model:
        """Takes the transition `name` on `obj` as `by` (None: govtrack itself); returns the locked, updated row."""
        from apps.audit.services import audit_record  # audit builds on core

        transition = self.by_name[name]
        reason = (reason or "").strip()
        if transition.reason == "required" and not reason:
            raise ValidationFailed.for_field("reason", "Say why: a reason is required for this step.")
        if len(reason) > 2000:
            raise ValidationFailed.for_field("reason", "At most 2000 characters.")
        params["reason"] = reason  # guards and `record` read the cleaned reason (e.g. an acceptance's why)
        if transition.system and by is not None:
            raise PermissionDenied(f"Only govtrack itself can {transition.verb} a {self.model._meta.verbose_name}.")
        with transaction.atomic():
            for model, pk in self.lock_first(obj) if self.lock_first else []:
                if pk is not None:
                    model.objects.select_for_update().filter(pk=pk).first()
            obj = self.model.objects.select_for_update().get(pk=obj.pk)
            if by is not None:
                allowed, refusal = self.ask(transition, by, obj)
                if not allowed:
                    raise PermissionDenied(refusal)
            require_state(
                obj, transition.source, transition.verb, self.field, self.subject(obj) if self.subject else None
            )
            for guard in transition.guards:
                guard(obj, by, params)
            before = getattr(obj, self.field)
            target = transition.target
            if transition.record is not None:
                decided = transition.record(obj, by, params)
                target = decided if decided is not None else target
            if target == before:
                return obj  # held where it is (e.g. a first approval); `record` wrote its own audit event
            setattr(obj, self.field, target)
            fields = [self.field]
            if self.reason_field:
                setattr(obj, self.reason_field, reason)
                fields.append(self.reason_field)
            if transition.stamp:
                setattr(obj, transition.stamp, timezone.now())
                fields.append(transition.stamp)
            fields.extend(name for name in params.pop("_changed_fields", []) if name not in fields)
            if any(f.name == "updated_at" for f in obj._meta.concrete_fields):
                fields.append("updated_at")
            obj.save(update_fields=fields)
            after = {self.field: target, **({"reason": reason} if reason else {})}
            after.update(params.pop("_audit_after", {}))
            audit_record(
                action=transition.audit_action or self.audit_action,
                actor=by,
                organization=self.organization_of(obj),
                obj=obj,
                before={self.field: before, **params.pop("_audit_before", {})},
                after=after,
            )
            if self.effects is not None:
                self.effects(obj, before, transition, by, reason)
        return obj


def change_fields(params: dict, obj: models.Model, changes: dict) -> None:
    """For a transition's `record`: sets `changes` on the locked row and has the engine save and audit them."""
    before = params.setdefault("_audit_before", {})
    after = params.setdefault("_audit_after", {})
    changed = params.setdefault("_changed_fields", [])
    for name, value in changes.items():
        before[name] = getattr(obj, name)
        setattr(obj, name, value)
        after[name] = value
        changed.append(name)
