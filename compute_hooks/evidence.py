"""Verification reports as evidence anyone can check: the arithmetic, the canonical form and the Merkle tree.

Standard library only, no Django: govtrack makes its reports with these functions and the standalone verifier
(`python -m compute_hooks.verify`) checks them with the same ones, so an auditor reads one short file to know how
every number of a report is derived. docs/compute.md describes the document field by field.

- Canonical form: RFC 8785 (JSON Canonicalization Scheme). A report holds only strings, integers, booleans, null,
  lists and objects (every measured number is a decimal string), so the scheme reduces to: no whitespace, object keys
  sorted by their UTF-16 code units, strings escaped as JSON.stringify does, UTF-8.
- Numbers: a per-minute value is round(x * 1000000) of the float x (double-precision product, rounded half to even)
  divided by 10**6 and written as the exact decimal ("82.5", "99", "70.123457"); derived values are quantized to
  6 decimals, coverage rounded down to 4, trailing zeros dropped.
- Merkle root (RFC 6962 tree hash) over a device's raw samples in the window, ordered by time: leaf
  SHA-256(0x00 || "<ts>\\n<value>"), node SHA-256(0x01 || left || right), the empty tree SHA-256(""); ts is
  "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) and value the shortest text that reads back as the stored float (Python repr),
  exactly as the raw-sample export writes them.
"""

import datetime as dt
import hashlib
import json
import math
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

REPORT_VERSION = 2
VALUE_PLACES = Decimal("0.000001")
COVERAGE_PLACES = Decimal("0.0001")
MAX_SAFE_INTEGER = 2**53 - 1

# What each aggregation is taken over: a device's per-minute averages (with PromQL: its step values), or the
# minimum / maximum of its samples (each minute's own min / max).
AGGREGATIONS = (
    "avg_of_minute_avg",
    "min_of_minute_avg",
    "max_of_minute_avg",
    "p95_of_minute_avg",
    "min_of_samples",
    "max_of_samples",
)
COMPARISONS = {
    "gte": lambda value, threshold: value >= threshold,
    "gt": lambda value, threshold: value > threshold,
    "lte": lambda value, threshold: value <= threshold,
    "lt": lambda value, threshold: value < threshold,
}
# A device entry's fields that are derived from its points (recomputed by the verifier, never trusted).
DERIVED_DEVICE_FIELDS = ("samples", "coverage", "covered", "value", "passes")
# A point: [unix seconds of the minute (or step), avg, min, max, sample count].
AVG, MIN, MAX, COUNT = 1, 2, 3, 4


# --- canonical form -----------------------------------------------------------------------------------------


def canonical_bytes(value) -> bytes:
    """RFC 8785 canonical JSON of a document made of strings, integers, booleans, null, lists and objects."""
    return _canonical(value).encode("utf-8")


def _canonical(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond the exact range of RFC 8785")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # escapes exactly what RFC 8785 escapes
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-16-be"))
        return "{" + ",".join(f"{_canonical(str(key))}:{_canonical(value[key])}" for key in keys) + "}"
    raise ValueError(f"a report holds no {type(value).__name__} (numbers are decimal strings)")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- numbers ------------------------------------------------------------------------------------------------


def decimal_text(number: Decimal) -> str:
    """A decimal as the report writes it: plain digits, no exponent, trailing zeros dropped ("1", "0.95")."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def micro_text(value: float) -> str:
    """A measured float in whole millionths (half to even), as exact decimal text."""
    return decimal_text(Decimal(round(float(value) * 1_000_000)).scaleb(-6))


def _quantize(number: Decimal) -> str:
    with localcontext(prec=60):
        return decimal_text(number.quantize(VALUE_PLACES, rounding=ROUND_HALF_EVEN))


# --- raw samples and the Merkle root ------------------------------------------------------------------------


def ts_text(moment: dt.datetime) -> str:
    """ "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC (isoformat: the same text as strftime, several times faster)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def value_text(value: float) -> str:
    return repr(float(value))


def sample_leaf(ts: str, value: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{ts}\n{value}".encode()).digest()


class MerkleTree:
    """RFC 6962's Merkle tree hash, fed one leaf hash (already SHA-256(0x00 || data)) at a time, in order.

    It keeps only the roots of the perfect subtrees so far, largest first, one per 1 bit of the count: the tree hash
    of n leaves is its largest power-of-two subtree hashed with the tree of the rest, which folds those roots from
    the right. Memory stays logarithmic however many samples a window holds.
    """

    def __init__(self):
        self.count = 0
        self._peaks: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        node, below = leaf, self.count
        while below & 1:  # each trailing 1 bit is a subtree as large as the one being built: join them
            node = _node(self._peaks.pop(), node)
            below >>= 1
        self._peaks.append(node)
        self.count += 1

    def root(self) -> str:
        if not self._peaks:
            return hashlib.sha256(b"").hexdigest()
        node = self._peaks[-1]
        for left in reversed(self._peaks[:-1]):
            node = _node(left, node)
        return node.hex()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> str:
    """RFC 6962's Merkle tree hash of leaf hashes (already SHA-256(0x00 || data)), in order."""
    tree = MerkleTree()
    for leaf in leaves:
        tree.add(leaf)
    return tree.root()


def samples_merkle_root(samples: list[tuple[str, str]]) -> str:
    """The root over (ts text, value text) pairs; they are ordered by time here (ts text sorts as time)."""
    return merkle_root([sample_leaf(ts, value) for ts, value in sorted(samples)])


# --- the derivation -----------------------------------------------------------------------------------------


def nearest_rank_p95(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def series_value(points: list[list], aggregation: str) -> str | None:
    """A series' value under `aggregation`, as decimal text; None without points."""
    if not points:
        return None
    if aggregation == "min_of_samples":
        return _quantize(min(Decimal(p[MIN]) for p in points))
    if aggregation == "max_of_samples":
        return _quantize(max(Decimal(p[MAX]) for p in points))
    averages = [Decimal(p[AVG]) for p in points]
    kind = aggregation.removesuffix("_of_minute_avg")
    if kind == "avg":
        with localcontext(prec=60):
            return _quantize(sum(averages, Decimal(0)) / len(averages))
    if kind == "min":
        return _quantize(min(averages))
    if kind == "max":
        return _quantize(max(averages))
    if kind == "p95":
        return _quantize(nearest_rank_p95(averages))
    raise ValueError(f"unknown aggregation {aggregation!r}")


def coverage_text(samples: int, expected: int) -> str:
    """Samples received over samples expected, at most 1, rounded down to 4 decimals."""
    if expected <= 0:
        return "0"
    with localcontext(prec=60):
        ratio = min(Decimal(samples) / Decimal(expected), Decimal(1))
        return decimal_text(ratio.quantize(COVERAGE_PLACES, rounding=ROUND_DOWN))


def device_derive(entry: dict, config: dict) -> dict:
    """A device entry with its derived fields: samples, coverage, covered, value, passes."""
    points = entry["points"]
    samples = sum(p[COUNT] for p in points)
    expected = entry["expected_samples"]
    value = series_value(points, config["aggregation"])
    compare = COMPARISONS[config["comparison"]]
    threshold = Decimal(config["threshold"])
    return {
        **{k: v for k, v in entry.items() if k not in DERIVED_DEVICE_FIELDS},
        "samples": samples,
        "coverage": coverage_text(samples, expected),
        "covered": expected > 0 and Decimal(samples) >= Decimal(config["min_coverage"]) * expected,
        "value": value,
        "passes": value is not None and compare(Decimal(value), threshold),
    }


def report_complete(frame: dict) -> dict:
    """The report from its frame (inputs, window, devices with their points): each device's derived fields and the
    result. What govtrack writes, what its rebuild recomputes, and what the verifier re-derives."""
    config = frame["inputs"]
    devices = [device_derive(entry, config) for entry in frame["devices"]]
    fleet = config["mode"] == "fleet"
    counted = [d for d in devices if d["covered"] and (fleet or d["passes"])]
    fleet_value = None
    if fleet and counted:
        fleet_value = series_value([p for d in counted for p in d["points"]], config["aggregation"])
    compare = COMPARISONS[config["comparison"]]
    threshold = Decimal(config["threshold"])
    enough = len(counted) >= config["min_devices"]
    passed = enough and (not fleet or (fleet_value is not None and compare(Decimal(fleet_value), threshold)))
    return {
        **frame,
        "devices": devices,
        "result": {
            "mode": config["mode"],
            "aggregation": config["aggregation"],
            "comparison": config["comparison"],
            "threshold": config["threshold"],
            "fleet_value": fleet_value,
            "devices_counted": len(counted),
            "min_devices": config["min_devices"],
            "passed": passed,
        },
    }


def report_frame(document: dict) -> dict:
    """What a report's derivation starts from: the document without its result and derived device fields."""
    frame = {key: value for key, value in document.items() if key != "result"}
    frame["devices"] = [
        {k: v for k, v in entry.items() if k not in DERIVED_DEVICE_FIELDS} for entry in document["devices"]
    ]
    return frame
