"""The demo portfolio's escrowed investment: the "Seed SAFE" milestones held in the escrow contract in a demo
stablecoin, on the local chain `make run` starts. Without a reachable chain it says so and skips."""

from django.conf import settings

from apps.core.errors import ApplicationError
from apps.escrow.chain import ChainError, Rpc, require_chain
from apps.escrow.models import ChainTxKind, EscrowAgreement, EscrowToken
from apps.escrow.services.agreements import escrow_agreement_create, escrow_token_register
from apps.escrow.services.deployment import contract_deploy, has_code
from apps.escrow.services.outbox import chaintx_enqueue, escrow_address
from apps.escrow.signer import signer_address
from apps.funding.models import Investment
from apps.tenancy.models import Role

DEMO_DECIMALS = 6
# anvil's second default account (public): the beneficiary that withdraws on the local chain.
LOCAL_BENEFICIARY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _demo_token(rpc: Rpc) -> EscrowToken:
    for token in EscrowToken.objects.filter(chain_id=settings.ETH_CHAIN_ID, symbol="DUSD"):
        if has_code(rpc, token.address):
            return token
    deployment = contract_deploy(rpc=rpc, artifact="MockERC20", args=["Demo USD", "DUSD", DEMO_DECIMALS], timeout=30)
    token = escrow_token_register(
        address=deployment.contract_address, symbol="DUSD", decimals=DEMO_DECIMALS, currency="USD", name="Demo USD"
    )
    chaintx_enqueue(
        kind=ChainTxKind.TOKEN_MINT,
        to=token.address,
        params={"account": signer_address(), "amount": str(10_000_000 * 10**DEMO_DECIMALS)},
    )
    return token


def seed(*, organization, users, stdout) -> None:
    investment = Investment.objects.filter(organization=organization, title="Seed SAFE").first()
    if investment is None or EscrowAgreement.objects.filter(investment=investment).exists():
        return
    if not settings.ETH_RPC_URL or settings.ETH_CHAIN_ID != 31337:
        stdout.write("Escrow demo skipped: no local chain (ETH_RPC_URL unset; `make run` starts one).")
        return
    try:
        rpc = Rpc(timeout=3)
        require_chain(rpc)
        if not has_code(rpc, escrow_address()):
            stdout.write("Escrow demo skipped: the escrow contract is not deployed (manage.py escrow_deploy).")
            return
        token = _demo_token(rpc)
        agreement = escrow_agreement_create(
            parent=investment, by=users[Role.FINANCE], token=token, beneficiary_address=LOCAL_BENEFICIARY
        )
    except (ChainError, ApplicationError) as exc:
        stdout.write(f"Escrow demo skipped: {getattr(exc, 'message', exc)}")
        return
    # The outbox is sent once seed_demo's transaction commits (tasks run in-process on the embedded default).
    stdout.write(
        f"Demo escrow: the Seed SAFE milestones ({agreement.total_base_units} DUSD base units) go into "
        f"{agreement.contract_address} on the local chain."
    )
