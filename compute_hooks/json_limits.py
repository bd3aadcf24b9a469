"""JSON with a cap on nesting depth and size, checked before it is parsed (standard library only).

Parsing nests one call per ``[`` or ``{``: a body of 100,000 brackets asks for 100,000 frames, which either
raises RecursionError or, where a library has raised the recursion limit, overflows the C stack and kills the
process. :func:`json_loads_bounded` counts the depth with one pass over the text (strings skipped by a regular
expression) and refuses a text that is too deep or too large before any parser sees it. The API's parsers
(apps/core/parsers.py) and the Prometheus client use it; it lives here because compute_hooks imports no Django.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64

# JSON strings (removed first, so brackets inside them do not count), then everything but brackets.
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONLimitError(ValueError):
    """The text is larger or nested deeper than allowed; ``reason`` is "size" or "depth"."""

    def __init__(self, message: str, *, reason: str, limit: int):
        super().__init__(message)
        self.reason = reason
        self.limit = limit


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (0 for a scalar), in a few passes at C speed."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def json_loads_bounded(
    data: str | bytes,
    *,
    max_depth: int = MAX_DEPTH,
    max_bytes: int | None = None,
    strict_constants: bool = True,
) -> Any:
    """``json.loads`` that first refuses text over ``max_bytes`` or nested deeper than ``max_depth``.

    Raises :class:`JSONLimitError` for either limit and ``ValueError`` for text that is not JSON. With
    ``strict_constants`` false, NaN and Infinity are read as floats (as ``json.loads`` does by default).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise JSONLimitError(f"larger than {max_bytes} bytes", reason="size", limit=max_bytes)
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the count.
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise JSONLimitError(f"nested deeper than {max_depth} levels", reason="depth", limit=max_depth)
    if strict_constants:
        return json.loads(text, parse_constant=_refuse_constant)
    return json.loads(text)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
