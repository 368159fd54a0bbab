"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>`` (docs/integrations.md).

The timestamp (Unix seconds, in its own header) is inside the signed text, so a
receiver that refuses a timestamp older than its tolerance refuses a replayed delivery
even though its signature is good. Each attempt is signed anew at send time.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Camera-Service-Signature"
TIMESTAMP_HEADER = "X-Camera-Service-Timestamp"
EVENT_HEADER = "X-Camera-Service-Event"
DELIVERY_HEADER = "X-Camera-Service-Delivery"
SCHEME = "sha256"
DEFAULT_TOLERANCE = 300.0  # seconds a receiver should accept a timestamp either side

_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex>``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def parse_signature(value: str) -> bytes | None:
    """The digest a signature header carries, or None when it is not ``sha256=<64 hex>``."""
    m = _SIGNATURE.fullmatch(value.strip())
    return bytes.fromhex(m.group(1)) if m else None


def parse_timestamp(value: str) -> int | None:
    """The Unix seconds a timestamp header carries, or None when it is not digits."""
    value = value.strip()
    return int(value) if _TIMESTAMP.fullmatch(value) else None


def verify(
    secret: bytes,
    body: bytes,
    signature_header: str,
    timestamp_header: str,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    digest, ts = parse_signature(signature_header), parse_timestamp(timestamp_header)
    if digest is None or ts is None or abs(now - ts) > tolerance:
        return False
    expected = hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, digest)
