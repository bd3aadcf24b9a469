from apps.core.canonical import canonical_json, sha256_hex

# The fields an event's hash covers, in the order the docs list them.
HASHED_FIELDS = (
    "chain",
    "seq",
    "organization_id",
    "actor_id",
    "actor_repr",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "request_id",
    "occurred_at",
)


def event_content(event) -> dict:
    content = {name: getattr(event, name) for name in HASHED_FIELDS}
    for key in ("organization_id", "actor_id"):
        content[key] = None if content[key] is None else str(content[key])
    return content


def event_hash(event) -> str:
    return sha256_hex(event.prev_hash + canonical_json(event_content(event)))
