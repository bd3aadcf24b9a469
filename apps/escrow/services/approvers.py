"""Who approves an agreement's milestones on chain: govtrack's signer, accounts (EOAs) and Safes.

Each approver is given with its kind. A `safe` is read on chain when it is added (code, `getOwners()`,
`getThreshold()`, `VERSION()`): an address that is not a Safe is refused, naming the field. An `eoa` with contract
code is refused too (a Safe given as an account would never be shown the transaction its owners must sign). These
reads happen before the agreement's database transaction opens.

Leaving `approvers` out means govtrack's signer alone (threshold 1); an empty list is refused: an agreement nobody
can approve would only ever refund.
"""

from django.db.models import Q
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.escrow import chain
from apps.escrow.models import ApproverKind, EscrowAgreement, EscrowApprover
from apps.escrow.safe import NotASafe, has_code, safe_read
from apps.escrow.signer import signer_address

MAX_APPROVERS = 32  # the contract's MAX_APPROVERS


def approvers_check(*, approvers: list[dict] | None, signer: str) -> list[dict]:
    """The approvers as they will be recorded ({address, kind} and, for a Safe, its owners, threshold and version),
    in the order given; ValidationFailed on `approvers` naming the entry at fault."""
    from apps.escrow.services.agreements import clean_address

    if approvers is None:
        return [{"address": signer, "kind": ApproverKind.GOVTRACK}]
    if not approvers:
        raise ValidationFailed.for_field(
            "approvers",
            "At least one approver: leave the field out for govtrack's signer alone, or name each approver.",
        )
    if len(approvers) > MAX_APPROVERS:
        raise ValidationFailed.for_field("approvers", f"At most {MAX_APPROVERS} approvers.")
    rpc = None
    checked = []
    for i, item in enumerate(approvers):
        where = f"approvers[{i}]"
        if not isinstance(item, dict):
            raise ValidationFailed.for_field("approvers", f"{where}: give an object with an address and a kind.")
        kind = str(item.get("kind") or "")
        if kind not in ApproverKind.values:
            raise ValidationFailed.for_field(
                "approvers", f"{where}: kind must be one of {', '.join(ApproverKind.values)}."
            )
        if kind == ApproverKind.GOVTRACK:
            address = clean_address(item.get("address") or signer, field="approvers")
            if address != signer:
                raise ValidationFailed.for_field(
                    "approvers", f"{where}: {address} is not govtrack's signer ({signer}); give it as 'eoa' or 'safe'."
                )
            checked.append({"address": address, "kind": kind})
            continue
        try:
            address = clean_address(item.get("address"), field="approvers")
        except ValidationFailed as exc:
            raise ValidationFailed.for_field("approvers", f"{where}: {exc.message}") from None
        if address == signer:
            raise ValidationFailed.for_field(
                "approvers", f"{where}: {address} is govtrack's signer: give it kind 'govtrack'."
            )
        try:
            rpc = rpc or chain.Rpc()
            if kind == ApproverKind.EOA:
                if has_code(rpc.code(address)):
                    raise ValidationFailed.for_field(
                        "approvers",
                        f"{where}: {address} is a contract, not an account; a Safe is given with kind 'safe'.",
                    )
                checked.append({"address": address, "kind": kind})
                continue
            info = safe_read(rpc, address)
        except NotASafe as exc:
            raise ValidationFailed.for_field("approvers", f"{where}: {address} is not a Safe: {exc}.") from None
        except chain.ChainError as exc:
            raise Conflict(
                f"{where}: the chain node could not be asked about {address}; nothing was saved, try again.",
                {"error": str(exc)[:300]},
            ) from None
        checked.append(
            {
                "address": address,
                "kind": kind,
                "safe_owners": info.owners,
                "safe_threshold": info.threshold,
                "safe_version": info.version,
            }
        )
    addresses = [a["address"] for a in checked]
    if len(set(addresses)) != len(addresses):
        raise ValidationFailed.for_field("approvers", "Each approver once.")
    return checked


def approvers_record(*, agreement: EscrowAgreement, approvers: list[dict]) -> list[EscrowApprover]:
    """The agreement's approver rows, in the transaction that writes the agreement."""
    now = timezone.now()
    return EscrowApprover.objects.bulk_create(
        [
            EscrowApprover(
                agreement=agreement,
                position=position,
                address=a["address"],
                kind=a["kind"],
                safe_owners=a.get("safe_owners", []),
                safe_threshold=a.get("safe_threshold"),
                safe_version=a.get("safe_version", ""),
                checked_at=now if a["kind"] == ApproverKind.SAFE else None,
            )
            for position, a in enumerate(approvers)
        ]
    )


def govtrack_attests(agreement: EscrowAgreement) -> bool:
    """Whether govtrack's signer is an approver of the agreement (else its own `attest` could only revert)."""
    return agreement.approver_rows.filter(Q(kind=ApproverKind.GOVTRACK) & Q(address=signer_address())).exists()
