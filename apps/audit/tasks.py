import logging

from celery import shared_task

from apps.audit.verification import all_chains, verify_chain

logger = logging.getLogger(__name__)


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
    return {"chains": len(chains), "broken": broken}
