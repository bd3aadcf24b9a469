#!/usr/bin/env python3
"""Deploy the committed build artifacts on a local anvil node and run one lifecycle.

Proves that build/MilestoneEscrow.json and build/MockERC20.json deploy and work from Python
(web3.py, as the application does), that the events decode with the committed ABI, and prints
the real transaction gas (receipt gasUsed: intrinsic + calldata + execution - refunds).

Usage: python scripts/anvil_smoke.py   (needs web3; ci.sh runs it with the tooling venv)
"""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import sys
import time

from web3 import Web3
from web3.logs import DISCARD

ROOT = pathlib.Path(__file__).resolve().parent.parent
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
GOALS = {"attest": 70_000, "withdraw": 45_000, "refund": 45_000}
ZERO = "0x0000000000000000000000000000000000000000"


def load(name: str) -> dict:
    return json.loads((ROOT / "build" / f"{name}.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_anvil(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("anvil did not start")


def main() -> int:
    port = free_port()
    proc = start_anvil(port)
    try:
        return run(Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}")))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(w3: Web3) -> int:
    owner, funder, beneficiary, approver1, approver2, approver3, keeper = w3.eth.accounts[:7]
    esc_art, tok_art = load("MilestoneEscrow"), load("MockERC20")
    gas: dict[str, int] = {}

    def send(fn, sender, label=None, value=0):
        tx = fn.transact({"from": sender, "value": value})
        rcpt = w3.eth.wait_for_transaction_receipt(tx)
        assert rcpt.status == 1, f"{label or fn.fn_name} failed"
        if label:
            gas[label] = rcpt.gasUsed
        return rcpt

    def deploy(art, *args):
        c = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        rcpt = w3.eth.wait_for_transaction_receipt(c.constructor(*args).transact({"from": owner}))
        return w3.eth.contract(address=rcpt.contractAddress, abi=art["abi"])

    escrow = deploy(esc_art, owner)
    token = deploy(tok_art, "Test USD", "TUSD", 6)
    assert w3.eth.get_code(escrow.address).hex() == esc_art["deployedBytecode"][2:], "runtime code differs"

    now = w3.eth.get_block("latest").timestamp
    day = 86_400
    amounts = [10**18, 2 * 10**18, 3 * 10**18]
    deadlines = [now + 10 * day, now + 20 * day, now + 30 * day]
    report = bytes.fromhex("35f15bf3093d5860826abbb3f2c01a8cefafcf5e7e3a325a3d9d5ca098d0974c")

    # ETH agreement, a single approver (e.g. a Safe).
    rcpt = send(
        escrow.functions.createAgreement(beneficiary, ZERO, amounts, deadlines, [approver1], 1, b"\x01" * 32),
        funder,
        "createAgreement ETH (3 milestones, 1 approver)",
        value=sum(amounts),
    )
    created = escrow.events.AgreementCreated().process_receipt(rcpt, errors=DISCARD)[0]["args"]
    eth_id = created["agreementId"]
    assert created["funder"] == funder and created["totalAmount"] == sum(amounts)
    assert len(escrow.events.MilestoneCreated().process_receipt(rcpt, errors=DISCARD)) == 3

    rcpt = send(escrow.functions.attest(eth_id, 0, report), approver1, "attest (1-of-1: approves)")
    approved = escrow.events.MilestoneApproved().process_receipt(rcpt, errors=DISCARD)[0]["args"]
    assert approved["evidenceHash"] == report and approved["amount"] == amounts[0]

    rcpt = send(escrow.functions.withdraw(eth_id), beneficiary, "withdraw ETH")
    assert escrow.events.Withdrawn().process_receipt(rcpt, errors=DISCARD)[0]["args"]["amount"] == amounts[0]

    w3.provider.make_request("evm_increaseTime", [21 * day])
    w3.provider.make_request("evm_mine", [])
    send(escrow.functions.refund(eth_id, 1), keeper, "refund")
    send(escrow.functions.claimRefund(eth_id), keeper, "claimRefund ETH")

    # 2-of-3 agreement.
    now = w3.eth.get_block("latest").timestamp
    deadlines = [now + 10 * day, now + 20 * day, now + 30 * day]
    rcpt = send(
        escrow.functions.createAgreement(
            beneficiary, ZERO, amounts, deadlines, [approver1, approver2, approver3], 2, b"\x02" * 32
        ),
        funder,
        value=sum(amounts),
    )
    multi_id = escrow.events.AgreementCreated().process_receipt(rcpt, errors=DISCARD)[0]["args"]["agreementId"]
    send(escrow.functions.attest(multi_id, 0, report), approver1, "attest (first of 2-of-3: counts its hash)")
    send(escrow.functions.attest(multi_id, 0, report), approver3, "attest (second of 2-of-3: approves)")
    # v2: a rogue approver attests a wrong hash first; the two honest approvers still approve.
    send(escrow.functions.attest(multi_id, 1, b"\xee" * 32), approver2)
    send(escrow.functions.attest(multi_id, 1, report), approver1, "attest (after a rogue hash: first honest)")
    send(escrow.functions.attest(multi_id, 1, report), approver3, "attest (after a rogue hash: approves)")
    assert escrow.functions.approvedEvidenceHash(multi_id, 1).call() == report, "honest hash approved"
    assert escrow.functions.evidenceVotes(multi_id, 1, b"\xee" * 32).call() == 1, "rogue vote visible"

    # ERC-20 agreement with the test token.
    send(token.functions.mint(funder, sum(amounts)), owner)
    send(token.functions.approve(escrow.address, sum(amounts)), funder)
    rcpt = send(
        escrow.functions.createAgreement(beneficiary, token.address, amounts, deadlines, [approver1], 1, b"\x03" * 32),
        funder,
        "createAgreement ERC-20 (3 milestones, 1 approver)",
    )
    tok_id = escrow.events.AgreementCreated().process_receipt(rcpt, errors=DISCARD)[0]["args"]["agreementId"]
    send(escrow.functions.attest(tok_id, 2, report), approver1)
    send(escrow.functions.withdraw(tok_id), beneficiary, "withdraw ERC-20 (first-time holder)")
    assert token.functions.balanceOf(beneficiary).call() == amounts[2]

    agreement = escrow.functions.getAgreement(multi_id).call()
    assert agreement[7] == amounts[0] + amounts[1], "both 2-of-3 milestones credited"

    width = max(len(k) for k in gas)
    print("Transaction gas on anvil (receipt gasUsed, including 21,000 intrinsic + calldata):")
    failed = False
    for name, used in gas.items():
        key = next((k for k in GOALS if name.startswith(k + " ") or name == k), None)
        goal = GOALS[key] if key and "first-time holder" not in name else None
        mark = ""
        if goal is not None:
            mark = f"  (goal <= {goal:,})"
            if used > goal:
                mark += "  OVER GOAL"
                failed = True
        print(f"  {name.ljust(width)}  {used:>9,}{mark}")
    if failed:
        print("anvil smoke: FAILED (gas goal exceeded)", file=sys.stderr)
        return 1
    print(f"anvil smoke: artifacts deploy and run on anvil ({ANVIL.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
