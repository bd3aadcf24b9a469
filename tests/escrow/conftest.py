"""A real anvil per test (free port, its own state file), with the committed MilestoneEscrow and MockERC20 deployed
from contracts/build, and govtrack's settings pointed at it."""

import json
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from web3 import HTTPProvider, Web3

from tests.conftest import free_port, service_missing, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
NATIVE_ANVIL = CONTRACTS / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
WRAPPER_ANVIL = CONTRACTS / "node_modules" / ".bin" / "anvil"
# anvil's default accounts (public, printed by anvil at start): 0 signs for govtrack, 1 is the beneficiary,
# 9 deploys the contracts and mints test tokens (so the signer's nonces are govtrack's alone).
SIGNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# Account 9 deploys the contracts, so it is also their owner (pause/unpause): never govtrack's signer.
OWNER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
DECIMALS = 6


def anvil_binary() -> Path:
    if not WRAPPER_ANVIL.exists() and shutil.which("npm"):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONTRACTS, check=False, capture_output=True)
    # The native binary stops on SIGKILL too (the Node wrapper would leave it running).
    for candidate in (NATIVE_ANVIL, WRAPPER_ANVIL):
        if candidate.exists():
            return candidate
    service_missing("anvil (cd contracts && npm ci)")
    raise AssertionError("unreachable")


@dataclass
class Anvil:
    binary: Path
    state: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--chain-id", "31337",
                "--state", str(self.state),
                "--state-interval", "1",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        """Graceful: anvil writes its state file on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None


@pytest.fixture
def anvil(tmp_path):
    node = Anvil(binary=anvil_binary(), state=tmp_path / "anvil-state.json")
    node.start()
    yield node
    node.stop()


def artifact(name: str) -> dict:
    return json.loads((CONTRACTS / "build" / f"{name}.json").read_text())


class Chain:
    """Direct access to the test chain (web3), for setting up and for checking what is really on chain."""

    def __init__(self, anvil: Anvil):
        self.anvil = anvil
        self.w3 = Web3(HTTPProvider(anvil.url, exception_retry_configuration=None))
        accounts = self.w3.eth.accounts
        self.signer, self.beneficiary, self.deployer = accounts[0], accounts[1], accounts[9]
        self.escrow = self._deploy("MilestoneEscrow", self.deployer)
        self.token = self._deploy("MockERC20", "Demo USD", "DUSD", DECIMALS)
        self.transact(self.token.functions.mint(self.signer, 10**15), self.deployer)

    def reconnect(self) -> None:
        self.w3 = Web3(HTTPProvider(self.anvil.url, exception_retry_configuration=None))
        self.escrow = self.w3.eth.contract(address=self.escrow.address, abi=self.escrow.abi)
        self.token = self.w3.eth.contract(address=self.token.address, abi=self.token.abi)

    def _deploy(self, name: str, *args):
        art = artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.transact(factory.constructor(*args), self.deployer)
        return self.w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])

    def transact(self, call, sender):
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        assert receipt.status == 1
        return receipt

    def rpc(self, method: str, *params):
        response = self.w3.provider.make_request(method, list(params))
        assert "error" not in response, response
        return response["result"]

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def milestone(self, agreement_id: int, index: int) -> dict:
        amount, _deadline, status, approvals, evidence = self.escrow.functions.getMilestone(agreement_id, index).call()
        return {"amount": amount, "status": status, "approvals": approvals, "evidence": "0x" + evidence.hex()}

    def balance(self, address: str) -> int:
        return self.token.functions.balanceOf(address).call()

    def signer_nonce(self) -> int:
        return self.w3.eth.get_transaction_count(self.signer)


@pytest.fixture
def chain(anvil, settings, monkeypatch, db):
    """The deployed contracts, settings pointing at them, and the token registered as a USD stablecoin."""
    from apps.escrow.services.agreements import escrow_token_register

    test_chain = Chain(anvil)
    monkeypatch.setenv("ESCROW_SIGNER_KEY", SIGNER_KEY)
    settings.ETH_RPC_URL = anvil.url
    settings.ETH_CHAIN_ID = 31337
    settings.ESCROW_ADDRESS = test_chain.escrow.address
    settings.ESCROW_OWNER_ADDRESS = test_chain.deployer
    settings.ESCROW_START_BLOCK = 0
    settings.ESCROW_CONFIRMATIONS = 1
    settings.ESCROW_SEND_ON_COMMIT = False
    settings.ESCROW_RETRY_BASE_SECONDS = 5
    settings.ESCROW_RPC_TIMEOUT_SECONDS = 5
    test_chain.usd = escrow_token_register(
        address=test_chain.token.address, symbol="DUSD", decimals=DECIMALS, currency="USD", name="Demo USD"
    )
    return test_chain


def sync() -> dict:
    """One round of what beat runs: send what is due, follow receipts, index events (its result is returned). On a
    busy machine a receipt can show one round after its send, leaving a transaction mined at one confirmation; the
    block watcher would run the next round on the next block, so this runs it too (at most twice more)."""
    from django.conf import settings

    from apps.escrow.models import ChainTx, ChainTxStatus
    from apps.escrow.tasks import escrow_sync

    result = escrow_sync()
    for _ in range(2):
        if settings.ESCROW_CONFIRMATIONS > 1 or not ChainTx.objects.filter(status=ChainTxStatus.MINED).exists():
            break
        escrow_sync()
    return result


def verify_and_approve(milestone, people):
    """The separation of duties a release takes: finance verifies, an owner approves (this queues the attestation)."""
    from apps.funding.services.milestones import milestone_approve_release, milestone_verify

    milestone_verify(milestone=milestone, by=people["finance"])
    return milestone_approve_release(milestone=milestone, by=people["owner"])
