"""Checks a govtrack verification report without govtrack: standard library only.

    python3 verify.py report.json [--samples samples.csv] [--sha256 HEX]
        [--rpc URL --escrow 0xADDRESS --agreement N --milestone M [--selector 0x... --word 4]]

Two files, standard library only (Python 3.11+): compute_hooks/verify.py and compute_hooks/evidence.py, copied
anywhere side by side; within a govtrack checkout `python -m compute_hooks.verify` runs the same.

- report.json: the report as govtrack serves it (its canonical JSON; `manage.py verification_export`, or
  `canonical_json` of GET /api/compute/reports/{id}/). The tool re-derives every device's samples, coverage, value and
  verdict and the result from the per-minute points the report carries, checks that the file is the RFC 8785
  canonical form of what it says, and prints its SHA-256 (what the escrow contract records).
- --samples: the raw-sample export of the report (CSV: device,metric,ts,value). Each device's Merkle root, and each
  minute's sample count, minimum, maximum and average (to within one millionth: the per-minute average is merged
  in floating point as samples arrive), are checked against it.
- --sha256: the hash you expect (e.g. printed on a grant report).
- --rpc, --escrow, --agreement, --milestone: reads the milestone from the MilestoneEscrow contract with a JSON-RPC
  eth_call and compares its evidence hash with the report's. --selector is the view's 4-byte selector (default
  getMilestone(uint256,uint256)) and --word the index of the 32-byte word of its answer that holds the hash.

Exit status 0 when every check passes, 1 when one fails, 2 when the input cannot be read.
"""

import argparse
import csv
import datetime as dt
import json
import sys
import urllib.request
from decimal import Decimal

try:
    import compute_hooks.evidence as evidence
except ImportError:  # run as a file beside evidence.py, without the collectors' packages
    import evidence  # type: ignore[no-redef]

AVG, COUNT, MAX, MIN = evidence.AVG, evidence.COUNT, evidence.MAX, evidence.MIN
REPORT_VERSION = evidence.REPORT_VERSION

# keccak256("getMilestone(uint256,uint256)")[:4]; its answer is (amount, deadline, status, approvals, evidenceHash).
GET_MILESTONE_SELECTOR = "0x8ed9895c"
EVIDENCE_HASH_WORD = 4
RPC_TIMEOUT_SECONDS = 10
MICRO = Decimal("0.000001")


class Checks:
    def __init__(self, out=sys.stdout):
        self.failed = 0
        self.out = out

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.failed += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {what}{': ' + detail if detail and not ok else ''}", file=self.out)
        return ok


def report_check(raw: bytes, checks: Checks) -> dict:
    document = json.loads(raw)
    checks.check(document.get("version") == REPORT_VERSION, f"report version {REPORT_VERSION}")
    rederived = evidence.report_complete(evidence.report_frame(document))
    by_key = {d["key"]: d for d in rederived["devices"]}
    for stated in document["devices"]:
        mine = by_key[stated["key"]]
        for field in ("samples", "coverage", "covered", "value", "passes"):
            checks.check(
                stated.get(field) == mine[field],
                f"device {stated['key']}: {field} {mine[field]!r}",
                f"the report says {stated.get(field)!r}",
            )
    for field, value in rederived["result"].items():
        stated = document["result"].get(field)
        checks.check(stated == value, f"result {field} {value!r}", f"the report says {stated!r}")
    checks.check(evidence.canonical_bytes(document) == raw, "the file is the RFC 8785 canonical form of its content")
    return document


def samples_read(path: str) -> dict[str, list[tuple[str, str]]]:
    by_device: dict[str, list[tuple[str, str]]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_device.setdefault(row["device"], []).append((row["ts"], row["value"]))
    return by_device


def samples_check(document: dict, samples: dict[str, list[tuple[str, str]]], checks: Checks) -> None:
    for device in document["devices"]:
        raw = device.get("raw")
        if raw is None:  # a PromQL report: its points are the series Prometheus answered
            continue
        rows = samples.get(device["key"], [])
        root = evidence.samples_merkle_root(rows)
        checks.check(root == raw["merkle_root"], f"device {device['key']}: Merkle root of {len(rows)} raw samples",
                     f"the export gives {root}, the report {raw['merkle_root']}")  # fmt: skip
        minutes: dict[int, list[float]] = {}
        for ts, value in rows:
            moment = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
            minutes.setdefault(int(moment.timestamp()) // 60 * 60, []).append(float(value))
        stated = {p[0]: p for p in device["points"]}
        if raw["leaves"] != device["samples"]:
            print(f"NOTE device {device['key']}: the raw samples of part of the window had expired when the report "
                  f"was made; the root covers {raw['leaves']} of {device['samples']}", file=checks.out)  # fmt: skip
            continue
        bad = []
        for minute in sorted(set(minutes) | set(stated)):
            values, point = minutes.get(minute, []), stated.get(minute)
            if point is None or not values or len(values) != point[COUNT]:
                bad.append(f"{minute}: count {len(values)} vs {point[COUNT] if point else 0}")
                continue
            average = Decimal(evidence.micro_text(sum(values) / len(values)))
            if (evidence.micro_text(min(values)), evidence.micro_text(max(values))) != (point[MIN], point[MAX]) or abs(
                average - Decimal(point[AVG])
            ) > MICRO:
                bad.append(f"{minute}: min/max/avg of the samples differ from the report's point")
        checks.check(not bad, f"device {device['key']}: every minute matches its raw samples", "; ".join(bad[:5]))


def chain_evidence_hash(rpc: str, escrow: str, agreement: int, milestone: int, selector: str, word: int) -> str:
    if not rpc.startswith(("http://", "https://")):
        raise ValueError("the RPC URL must be http:// or https://")
    data = selector.removeprefix("0x") + f"{agreement:064x}" + f"{milestone:064x}"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                       "params": [{"to": escrow, "data": "0x" + data}, "latest"]}).encode()  # fmt: skip
    request = urllib.request.Request(rpc, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=RPC_TIMEOUT_SECONDS) as answer:  # noqa: S310 - the user's own node
        reply = json.loads(answer.read())
    if "error" in reply:
        raise ValueError(f"the node refused the call: {reply['error'].get('message', reply['error'])}")
    result = reply["result"].removeprefix("0x")
    if len(result) < 64 * (word + 1):
        raise ValueError("the contract's answer is too short for that word")
    return result[64 * word : 64 * (word + 1)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute_hooks.verify", description=__doc__.split("\n")[0])
    parser.add_argument("report")
    parser.add_argument("--samples")
    parser.add_argument("--sha256")
    parser.add_argument("--rpc")
    parser.add_argument("--escrow")
    parser.add_argument("--agreement", type=int)
    parser.add_argument("--milestone", type=int)
    parser.add_argument("--selector", default=GET_MILESTONE_SELECTOR)
    parser.add_argument("--word", type=int, default=EVIDENCE_HASH_WORD)
    args = parser.parse_args(argv)
    if args.rpc and (args.escrow is None or args.agreement is None or args.milestone is None):
        parser.error("--rpc needs --escrow, --agreement and --milestone")
    checks = Checks()
    try:
        with open(args.report, "rb") as handle:
            raw = handle.read()
        document = report_check(raw, checks)
        samples = samples_read(args.samples) if args.samples else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"ERROR the input cannot be read: {exc}", file=sys.stderr)
        return 2
    digest = evidence.sha256_hex(raw)
    print(f"sha256 {digest}")
    if samples is not None:
        samples_check(document, samples, checks)
    if args.sha256:
        checks.check(args.sha256.lower().removeprefix("0x") == digest, "the hash is the one expected")
    if args.rpc:
        try:
            onchain = chain_evidence_hash(args.rpc, args.escrow, args.agreement, args.milestone, args.selector,
                                          args.word)  # fmt: skip
        except (OSError, ValueError, KeyError) as exc:
            checks.check(False, "the escrow contract's evidence hash", str(exc))
        else:
            checks.check(onchain == digest, "the escrow contract records this report's hash", f"it records 0x{onchain}")
    print("VERIFIED" if not checks.failed else f"NOT VERIFIED: {checks.failed} check(s) failed")
    return 0 if not checks.failed else 1


if __name__ == "__main__":
    sys.exit(main())
