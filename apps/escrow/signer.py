"""The key that signs escrow transactions: read from the environment when it is needed, never logged, never
stored in the database or in settings (only the address derived from it is)."""

import functools
import os
from pathlib import Path

from django.conf import settings
from eth_account import Account
from eth_account.signers.local import LocalAccount

from apps.core.errors import Conflict

# anvil's first default account. Its key is public (anvil prints it at start), so it only ever signs on the local
# chain (31337) of the embedded default, where it holds nothing of value.
LOCAL_CHAIN_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _key_text() -> str:
    key = os.environ.get("ESCROW_SIGNER_KEY", "").strip()
    if not key and settings.ESCROW_SIGNER_KEY_FILE:
        key = Path(settings.ESCROW_SIGNER_KEY_FILE).read_text().strip()
    if not key and settings.ESCROW_ALLOW_LOCAL_DEV_KEY and settings.ETH_CHAIN_ID == 31337:
        key = LOCAL_CHAIN_DEV_KEY
    return key


@functools.lru_cache(maxsize=4)
def _account(key: str) -> LocalAccount:
    return Account.from_key(key)


def signer() -> LocalAccount:
    key = _key_text()
    if not key:
        raise Conflict("No escrow signer: set ESCROW_SIGNER_KEY or ESCROW_SIGNER_KEY_FILE in the environment.")
    try:
        return _account(key)
    except (ValueError, TypeError):
        # The message must not echo the key.
        raise Conflict("ESCROW_SIGNER_KEY is not a valid private key (32 bytes, hex).") from None


def signer_address() -> str:
    return signer().address
