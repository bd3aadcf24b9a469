"""The signature a receiver checks: HMAC-SHA256 over "<timestamp>.<body>" with the endpoint's secret.

Headers: X-Govtrack-Timestamp (unix seconds) and X-Govtrack-Signature ("v1=<hex>"). A receiver recomputes the
HMAC, compares in constant time, and refuses timestamps older than a few minutes (replay protection).
"""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Govtrack-Signature"
TIMESTAMP_HEADER = "X-Govtrack-Timestamp"
EVENT_HEADER = "X-Govtrack-Event"
DELIVERY_HEADER = "X-Govtrack-Delivery"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
