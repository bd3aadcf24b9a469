"""Safe multisigs (Safe 1.3.0 / 1.4.1) as escrow approvers: reading a Safe on chain, and the transaction its owners
sign.

To the escrow contract a Safe is one approver like any other: its `execTransaction` calls `attest`. The Safe runs
that call only with signatures of `threshold` of its owners over the Safe transaction's EIP-712 hash (safeTxHash):
domain `EIP712Domain(uint256 chainId,address verifyingContract)` with the Safe as verifying contract, and the
`SafeTx` struct below. govtrack computes that hash itself and shows it only when the Safe's own
`getTransactionHash` gives the same.
"""

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from apps.escrow.chain import ZERO_ADDRESS, ChainUnavailable, Rpc, RpcError

# The ABI of Safe 1.4.1, as published in the npm package @safe-global/safe-contracts (build/artifacts).
SAFE_ABI_PATH = Path(__file__).resolve().parent / "abi" / "Safe-1.4.1.abi.json"
# Versions whose safeTxHash follows the rules below (chainId in the domain since 1.3.0).
SAFE_VERSIONS = ("1.3.0", "1.4.1")
OPERATION_CALL = 0  # never DELEGATECALL (1): the Safe only calls the escrow contract

SAFE_TX_TYPES = {
    "EIP712Domain": [
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "SafeTx": [
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "data", "type": "bytes"},
        {"name": "operation", "type": "uint8"},
        {"name": "safeTxGas", "type": "uint256"},
        {"name": "baseGas", "type": "uint256"},
        {"name": "gasPrice", "type": "uint256"},
        {"name": "gasToken", "type": "address"},
        {"name": "refundReceiver", "type": "address"},
        {"name": "nonce", "type": "uint256"},
    ],
}


class NotASafe(Exception):
    """The address answers nothing a Safe answers; `str()` says what was missing."""


@dataclass(frozen=True)
class SafeInfo:
    owners: list[str]
    threshold: int
    version: str
    nonce: int


@functools.cache
def safe_abi() -> list:
    return json.loads(SAFE_ABI_PATH.read_text())


@functools.cache
def _safe_contract():
    return Web3().eth.contract(abi=safe_abi())


def _output_types(function: str) -> list[str]:
    entry = next(e for e in safe_abi() if e["type"] == "function" and e["name"] == function)
    return [o["type"] for o in entry["outputs"]]


def safe_call(rpc: Rpc, address: str, function: str, args: list | None = None):
    """One view function of the Safe at `address`, decoded (a single output is returned alone)."""
    data = _safe_contract().encode_abi(function, args=args or [])
    result = rpc.eth_call({"to": address, "data": data})
    values = abi_decode(_output_types(function), bytes.fromhex((result or "0x")[2:]))
    return values[0] if len(values) == 1 else values


def has_code(code: str | None) -> bool:
    """Whether an eth_getCode answer is contract code (an account has "0x")."""
    return bool(code) and len(code) > 2 and int(code, 16) != 0


def safe_read(rpc: Rpc, address: str) -> SafeInfo:
    """The Safe's owners, threshold, version and nonce; NotASafe when the address is no Safe govtrack can serve
    (ChainUnavailable when the node cannot be asked)."""
    if not has_code(rpc.code(address)):
        raise NotASafe("it has no contract code")
    try:
        owners = [to_checksum_address(o) for o in safe_call(rpc, address, "getOwners")]
        threshold = int(safe_call(rpc, address, "getThreshold"))
        version = str(safe_call(rpc, address, "VERSION"))
        nonce = int(safe_call(rpc, address, "nonce"))
    except ChainUnavailable:
        raise
    except RpcError as exc:  # a revert: no such function
        raise NotASafe("it does not answer getOwners(), getThreshold(), VERSION() and nonce() as a Safe does") from exc
    except (DecodingError, ValueError, OverflowError) as exc:  # an answer that does not decode as the Safe ABI says
        raise NotASafe("its answers to getOwners() and getThreshold() are not a Safe's") from exc
    if not owners or not 1 <= threshold <= len(owners):
        raise NotASafe(f"it reports {len(owners)} owner(s) and a threshold of {threshold}")
    if version not in SAFE_VERSIONS:
        raise NotASafe(f"it is Safe {version}; govtrack serves Safe {' and '.join(SAFE_VERSIONS)}")
    return SafeInfo(owners=owners, threshold=threshold, version=version, nonce=nonce)


def safe_tx_typed_data(*, chain_id: int, safe: str, to: str, data: str, nonce: int) -> dict:
    """The EIP-712 typed data of a Safe transaction that calls `to` with `data` (no value, no gas refund): what the
    owners sign, e.g. with eth_signTypedData_v4."""
    return {
        "types": SAFE_TX_TYPES,
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": safe},
        "message": {
            "to": to,
            "value": 0,
            "data": data,
            "operation": OPERATION_CALL,
            "safeTxGas": 0,
            "baseGas": 0,
            "gasPrice": 0,
            "gasToken": ZERO_ADDRESS,
            "refundReceiver": ZERO_ADDRESS,
            "nonce": nonce,
        },
    }


def safe_tx_hash(typed_data: dict) -> str:
    """keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(SafeTx)), as 0x hex."""
    signable = encode_typed_data(full_message=typed_data)
    return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


def safe_tx_hash_onchain(rpc: Rpc, typed_data: dict) -> str:
    """The same hash as the Safe computes it (`getTransactionHash`)."""
    m = typed_data["message"]
    args = [
        m["to"],
        m["value"],
        bytes.fromhex(m["data"][2:]),
        m["operation"],
        m["safeTxGas"],
        m["baseGas"],
        m["gasPrice"],
        m["gasToken"],
        m["refundReceiver"],
        m["nonce"],
    ]
    return "0x" + safe_call(rpc, typed_data["domain"]["verifyingContract"], "getTransactionHash", args).hex()
