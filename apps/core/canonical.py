"""Canonical JSON and hashing: the same data always gives the same bytes and the same SHA-256."""

import datetime as dt
import decimal
import hashlib
import json
import uuid
from typing import Any


def normalize(value: Any) -> Any:
    """Turns a value into plain JSON types the same way every time (also what audit rows store)."""
    if isinstance(value, dict):
        return {str(key): normalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(item) for item in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in canonical data")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        # Decimals are written as strings so no float rounding enters a hash.
        return format(value.normalize(), "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("non-finite number in canonical data")
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def canonical_json(data: Any) -> str:
    return json.dumps(normalize(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(raw).hexdigest()
