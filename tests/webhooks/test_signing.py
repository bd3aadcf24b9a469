"""The webhook signature of docs/webhooks.md, checked against values computed without apps.webhooks.signing."""

import hashlib
import hmac

from apps.webhooks.signing import sign, verify

SECRET = "whsec_known_answer_secret_0123456789"
TIMESTAMP = 1767225600  # 2026-01-01T00:00:00Z
BODY = b'{"type":"milestone.released"}'
# HMAC-SHA256(secret, "1767225600." + body), computed once with the standard library and written down.
KNOWN = "v1=f117f3f81f37eafb3b56e068c10df7074c5e1d2923dd7178cceb496f5d9c91b0"


def test_signature_is_the_documented_hmac_of_timestamp_dot_body():
    by_hand = hmac.new(SECRET.encode(), f"{TIMESTAMP}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert f"v1={by_hand}" == KNOWN
    assert sign(SECRET, TIMESTAMP, BODY) == KNOWN


def test_a_receiver_refuses_a_changed_body_timestamp_or_secret():
    assert verify(SECRET, str(TIMESTAMP), BODY, KNOWN)
    assert not verify(SECRET, str(TIMESTAMP), BODY + b" ", KNOWN)
    assert not verify(SECRET, str(TIMESTAMP + 1), BODY, KNOWN)
    assert not verify(SECRET + "x", str(TIMESTAMP), BODY, KNOWN)
    body_only = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert not verify(SECRET, str(TIMESTAMP), BODY, f"v1={body_only}")
