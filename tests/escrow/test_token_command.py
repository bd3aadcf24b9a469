"""Tokens are registered by an operator through the service (the admin shows them and adds none)."""

import io

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.escrow.models import EscrowToken

pytestmark = pytest.mark.django_db

ADDRESS = "0x" + "ab" * 20


def test_escrow_token_register_goes_through_the_service_and_is_audited():
    out = io.StringIO()
    call_command("escrow_token_register", address=ADDRESS, symbol="USDC", decimals=6, currency="usd", stdout=out)
    token = EscrowToken.objects.get()
    assert (token.symbol, token.decimals, token.currency, token.chain_id) == ("USDC", 6, "USD", 31337)
    assert token.address.lower() == ADDRESS and token.address in out.getvalue()
    assert AuditEvent.objects.filter(action="escrow.token_registered", object_id=str(token.pk)).count() == 1


def test_escrow_token_register_says_what_is_wrong():
    with pytest.raises(CommandError, match="is not an Ethereum address"):
        call_command("escrow_token_register", address="0x12", symbol="USDC", decimals=6, currency="USD")
    assert not EscrowToken.objects.exists()
