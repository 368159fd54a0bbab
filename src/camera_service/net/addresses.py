"""What kind of address a peer or a configured host is."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address, or ``localhost``) is this machine's loopback;
    False for anything that does not parse (a name other than localhost, ``""``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
