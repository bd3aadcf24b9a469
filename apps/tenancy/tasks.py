from celery import shared_task

from apps.tenancy.services import invitation_email_send


@shared_task
def invitation_send_email(invitation_id: str, token: str) -> bool:
    """Sends an invitation's secret to the invitee's address, once, after the invitation committed."""
    return invitation_email_send(invitation_id=invitation_id, token=token)
