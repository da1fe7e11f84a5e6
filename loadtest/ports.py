"""Free loopback ports for servers started by tests and benchmarks.

`bind(("127.0.0.1", 0))` answers with a port from the kernel's ephemeral
range, the range every outgoing connection takes its local port from.
Between choosing such a port and a server binding it (or binding it again
after a restart, as the crash-recovery tests do), any client connection on
the machine may take it, and the server then fails with "Address already in
use". Ports below that range are only ever taken by an explicit bind, so
that is where these come from.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default when the kernel does not say.
_DEFAULT_EPHEMERAL_LOW = 32768
_LOWEST = 10000
_handed_out: set[int] = set()
_random = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nobody holds, below the ephemeral range, not handed
    out before by this process (a port chosen but not yet bound looks free)."""
    high = _ephemeral_low()
    if high - _LOWEST < 1000:
        # An unusual kernel setting leaves no room below: take the kernel's pick.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(1000):
        port = _random.randrange(_LOWEST, high)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {high}")


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports."""
    return [free_port() for _ in range(count)]
