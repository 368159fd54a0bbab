"""A throw-away self-signed certificate for 127.0.0.1, for the tests that serve TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed(out: Path, timeout: float = 60.0) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (a day's validity) into ``out``."""
    cert, key = out / "cert.pem", out / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    return cert, key
