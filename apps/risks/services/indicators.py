"""Key risk indicators: definition, and evaluation against their source (see apps/risks/indicators.py).

Evaluation is idempotent: only a change of state writes. ok/unknown -> breached records a KriEvent, flags the
risk and emails its owner once; breached -> ok records the clearing and unflags the risk when none of its
indicators is still breached. Missing data (no value in the window) leaves the state as it is.
"""

import datetime as dt
import logging
import operator
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import ApplicationError, ValidationFailed
from apps.risks import permissions
from apps.risks.indicators import IndicatorUnavailable, observed_value
from apps.risks.models import (
    Aggregation,
    Comparison,
    IndicatorSource,
    KeyRiskIndicator,
    KriEvent,
    KriEventKind,
    KriState,
    Risk,
)
from apps.tenancy.services import require

logger = logging.getLogger(__name__)

KRI_EDITABLE = ("name", "source", "metric", "aggregation", "window", "comparison", "threshold")
COMPARATORS = {
    Comparison.GT: operator.gt,
    Comparison.GTE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LTE: operator.le,
}
MAX_WINDOW = dt.timedelta(days=400)


def _check(values: dict) -> None:
    if "name" in values and not (values["name"] or "").strip():
        raise ValidationFailed.for_field("name", "Name the indicator.")
    if "source" in values and values["source"] not in IndicatorSource.values:
        raise ValidationFailed.for_field("source", f"Choose one of: {', '.join(IndicatorSource.values)}.")
    if "metric" in values and not (values["metric"] or "").strip():
        raise ValidationFailed.for_field("metric", "Name the metric (KPI slug or compute metric).")
    if "aggregation" in values and values["aggregation"] not in Aggregation.values:
        raise ValidationFailed.for_field("aggregation", f"Choose one of: {', '.join(Aggregation.values)}.")
    if "comparison" in values and values["comparison"] not in Comparison.values:
        raise ValidationFailed.for_field("comparison", f"Choose one of: {', '.join(Comparison.values)}.")
    if "window" in values and not dt.timedelta(minutes=1) <= values["window"] <= MAX_WINDOW:
        raise ValidationFailed.for_field("window", "The window lasts from 1 minute to 400 days.")


def kri_create(
    *,
    risk: Risk,
    name: str,
    source: str,
    metric: str,
    window: dt.timedelta,
    threshold: Decimal,
    by,
    aggregation: str = Aggregation.AVG,
    comparison: str = Comparison.GT,
) -> KeyRiskIndicator:
    require(permissions.can_manage_indicators(by, risk))
    values = {
        "name": (name or "").strip(),
        "source": source,
        "metric": (metric or "").strip(),
        "aggregation": aggregation,
        "window": window,
        "comparison": comparison,
        "threshold": threshold,
    }
    _check(values)
    with transaction.atomic():
        indicator = KeyRiskIndicator.objects.create(organization=risk.organization, risk=risk, **values)
        audit_record(
            action="kri.created",
            actor=by,
            organization=risk.organization,
            obj=indicator,
            after=snapshot(indicator, ["risk", *KRI_EDITABLE]),
        )
    return indicator


def kri_update(*, indicator: KeyRiskIndicator, by, **changes) -> KeyRiskIndicator:
    require(permissions.can_manage_indicators(by, indicator.risk))
    unknown = set(changes) - set(KRI_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    _check(changes)
    with transaction.atomic():
        locked = KeyRiskIndicator.objects.select_for_update().get(pk=indicator.pk)
        before = snapshot(locked, KRI_EDITABLE)
        for name, value in changes.items():
            setattr(locked, name, value)
        before, after = changed_fields(before, snapshot(locked, KRI_EDITABLE))
        if after:
            locked.save(update_fields=[*changes, "updated_at"])
            audit_record(
                action="kri.updated",
                actor=by,
                organization=indicator.risk.organization,
                obj=locked,
                before=before,
                after=after,
            )
    return locked


def kri_delete(*, indicator: KeyRiskIndicator, by) -> None:
    risk = indicator.risk
    require(permissions.can_manage_indicators(by, risk))
    with transaction.atomic():
        # Risk, then the indicator, then the audit chain head (docs/controls.md, lock order).
        locked_risk = Risk.objects.select_for_update().get(pk=risk.pk)
        indicator = KeyRiskIndicator.objects.select_for_update().get(pk=indicator.pk)
        audit_record(
            action="kri.deleted",
            actor=by,
            organization=risk.organization,
            obj=indicator,
            before=snapshot(indicator, ["risk", *KRI_EDITABLE, "state"]),
        )
        indicator.delete()
        _sync_risk_flag(locked_risk, now=timezone.now())


def _sync_risk_flag(risk: Risk, *, now: dt.datetime) -> None:
    breached = risk.indicators.filter(state=KriState.BREACHED).exists()
    if breached and risk.flagged_at is None:
        risk.flagged_at = now
    elif not breached and risk.flagged_at is not None:
        risk.flagged_at = None
    else:
        return
    risk.save(update_fields=["flagged_at", "updated_at"])


def kri_evaluate(*, indicator: KeyRiskIndicator, now: dt.datetime | None = None) -> str:
    """Evaluates one indicator; returns "breached", "cleared", "ok", "breaching" (still), "no_data" or "unavailable"."""
    now = now or timezone.now()
    try:
        value = observed_value(
            kind=indicator.source,
            organization=indicator.organization,
            metric=indicator.metric,
            aggregation=indicator.aggregation,
            window=indicator.window,
            now=now,
        )
    except (IndicatorUnavailable, ApplicationError) as exc:  # e.g. the source does not know the metric
        message = exc.message if isinstance(exc, ApplicationError) else str(exc)
        KeyRiskIndicator.objects.filter(pk=indicator.pk).update(last_evaluated_at=now, last_error=message[:300])
        return "unavailable"
    with transaction.atomic():
        # The risk before its indicator (docs/controls.md, lock order), as kri_delete takes them.
        risk = Risk.objects.select_for_update().select_related("owner", "organization").get(pk=indicator.risk_id)
        locked = (
            KeyRiskIndicator.objects.select_for_update()
            .select_related("risk__owner", "risk__organization")
            .get(pk=indicator.pk)
        )
        locked.last_evaluated_at, locked.last_error = now, ""
        if value is None:
            locked.save(update_fields=["last_evaluated_at", "last_error", "updated_at"])
            return "no_data"
        locked.last_value = value
        breached = COMPARATORS[locked.comparison](value, locked.threshold)
        was_breached = locked.state == KriState.BREACHED
        if breached == was_breached:
            if locked.state == KriState.UNKNOWN:
                locked.state = KriState.OK
            locked.save(update_fields=["state", "last_value", "last_evaluated_at", "last_error", "updated_at"])
            return "breaching" if breached else "ok"
        before = snapshot(locked, ["state", "breached_since"])
        locked.state = KriState.BREACHED if breached else KriState.OK
        locked.breached_since = now if breached else None
        locked.save(
            update_fields=["state", "breached_since", "last_value", "last_evaluated_at", "last_error", "updated_at"]
        )
        event = KriEvent.objects.create(
            indicator=locked,
            kind=KriEventKind.BREACHED if breached else KriEventKind.CLEARED,
            value=value,
            threshold=locked.threshold,
            occurred_at=now,
        )
        _sync_risk_flag(risk, now=now)
        audit_record(
            action="kri.breached" if breached else "kri.cleared",
            organization=risk.organization,
            obj=locked,
            object_repr=f"{risk.ref}: {locked.name}",
            before=before,
            after=snapshot(locked, ["state", "breached_since"]) | {"value": value, "threshold": locked.threshold},
        )
        if breached:
            _notify_breach(risk, locked, value)
            event.notified = True
            event.save(update_fields=["notified"])
    return "breached" if breached else "cleared"


def _notify_breach(risk: Risk, indicator: KeyRiskIndicator, value: Decimal) -> None:
    owner = risk.owner
    if not owner.email:
        logger.warning("Risk %s owner %s has no email; KRI breach not emailed.", risk.ref, owner.get_username())
        return
    send_mail(
        f"[govtrack] Risk {risk.ref} flagged: {indicator.name}",
        f"{risk.organization.name}: the indicator '{indicator.name}' of risk {risk.ref} '{risk.title}' is breached: "
        f"{indicator.get_aggregation_display().lower()} of {indicator.metric} over {indicator.window} is {value:f} "
        f"({indicator.get_comparison_display()} {indicator.threshold:f}).",
        settings.DEFAULT_FROM_EMAIL,
        [owner.email],
    )


def kris_evaluate_all(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Evaluates every indicator of every risk that is not closed; returns a count per outcome."""
    now = now or timezone.now()
    outcomes: dict[str, int] = {}
    indicators = KeyRiskIndicator.objects.exclude(risk__status="closed").select_related("organization")
    for indicator in indicators.iterator(chunk_size=500):
        try:
            outcome = kri_evaluate(indicator=indicator, now=now)
        except Exception:  # one broken indicator must not stop the others
            logger.exception("Evaluating indicator %s failed", indicator.pk)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
