import logging
import time

from celery import shared_task
from django.core.cache import cache

from apps.audit.verification import all_chains, verify_chain

logger = logging.getLogger(__name__)

# The last scheduled verification's outcome, for /metrics (apps/core/metrics.py); kept past two schedule periods.
LAST_VERIFICATION_KEY = "audit:last-verification"


@shared_task
def audit_verify_chains() -> dict:
    """Verifies every chain (read-only, so safe to run twice); logs an error for each broken one."""
    broken = {}
    chains = all_chains()
    for chain in chains:
        report = verify_chain(chain)
        if not report.ok:
            broken[chain] = report.message
            logger.error("Audit chain %s broken: %s", chain, report.message)
    outcome = {"chains": len(chains), "broken": broken}
    cache.set(LAST_VERIFICATION_KEY, {**outcome, "at": time.time()}, timeout=3 * 24 * 3600)
    return outcome


def audit_last_verification() -> dict | None:
    """{"chains", "broken", "at"} of the last audit_verify_chains run, or None before the first."""
    return cache.get(LAST_VERIFICATION_KEY)
