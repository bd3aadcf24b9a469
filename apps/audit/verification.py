"""Walking a chain: finds the first edited, inserted or deleted event."""

from dataclasses import dataclass

from apps.audit.hashing import event_hash
from apps.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    ok: bool
    problem: str = ""  # "edited" | "inserted" | "deleted"
    seq: int | None = None
    event_id: int | None = None
    message: str = ""
    head_hash: str = GENESIS_HASH


def verify_chain(chain: str) -> ChainReport:
    last_seq, last_hash, before_last_hash = 0, GENESIS_HASH, None
    last_id = None
    count = 0
    events = AuditEvent.objects.filter(chain=chain).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        count += 1
        if event.seq > last_seq + 1:
            missing = f"#{last_seq + 1}" if event.seq == last_seq + 2 else f"#{last_seq + 1}-#{event.seq - 1}"
            return ChainReport(
                chain,
                count,
                False,
                "deleted",
                last_seq + 1,
                event.id,
                f"Event {missing} is missing (deleted) before event #{event.seq} (id {event.id}).",
            )
        if event.prev_hash != last_hash:
            if before_last_hash is not None and event.prev_hash == before_last_hash:
                return ChainReport(
                    chain,
                    count,
                    False,
                    "inserted",
                    last_seq,
                    last_id,
                    f"Event #{last_seq} (id {last_id}) was inserted: event #{event.seq} links past it.",
                )
            return ChainReport(
                chain,
                count,
                False,
                "edited",
                last_seq,
                last_id,
                f"Event #{last_seq} (id {last_id}) was edited: event #{event.seq} no longer links to it.",
            )
        if event_hash(event) != event.hash:
            return ChainReport(
                chain,
                count,
                False,
                "edited",
                event.seq,
                event.id,
                f"Event #{event.seq} (id {event.id}, {event.action}) was edited: its content no longer "
                "matches its hash.",
            )
        before_last_hash, last_hash, last_seq, last_id = last_hash, event.hash, event.seq, event.id

    head = AuditChainHead.objects.filter(chain=chain).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq > last_seq:
        missing = f"#{last_seq + 1}" if head_seq == last_seq + 1 else f"#{last_seq + 1}-#{head_seq}"
        return ChainReport(
            chain,
            count,
            False,
            "deleted",
            last_seq + 1,
            None,
            f"Event {missing} at the end of the chain is missing (deleted).",
        )
    if head_seq < last_seq:
        return ChainReport(
            chain,
            count,
            False,
            "inserted",
            head_seq + 1,
            None,
            f"Event #{head_seq + 1} onward was inserted after the last recorded event #{head_seq}.",
        )
    if head_hash != last_hash:
        return ChainReport(
            chain,
            count,
            False,
            "edited",
            last_seq,
            last_id,
            f"Event #{last_seq} (id {last_id}) was edited: it no longer matches the recorded chain head.",
        )
    return ChainReport(chain, count, True, head_hash=last_hash, message=f"{count} events, chain intact.")


def all_chains() -> list[str]:
    chains = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains.update(AuditEvent.objects.values_list("chain", flat=True).distinct())
    return sorted(chains)
