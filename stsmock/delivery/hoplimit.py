"""IMDSv2 hop limit: the token PUT response leaves with IP TTL = the instance's hop limit.

Real EC2 sends the ``PUT /latest/api/token`` response with the IP TTL set to
``HttpPutResponseHopLimit`` (default 1, range 1..64), so a container behind one
routing hop (a bridged Docker network) never gets a token while the host does.
A userspace emulator can only imitate that on its own socket: raise the TTL of
the accepted connection before the token response is written, and put the
default back (``IP_TTL = -1`` on Linux) before anything else is written on the
same keep-alive connection. On loopback every packet arrives with the TTL it
left with, so the emulation is observable (tests read it with a raw socket) but
harmless unless a real routing hop sits between the workload and stsmock.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref

log = logging.getLogger("stsmock.delivery")

#: Connections whose TTL is currently the hop limit (restored before their next response).
_raised: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()


def _levels(sock: socket.socket) -> tuple[int, int]:
    if sock.family == socket.AF_INET6:
        return socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS
    return socket.IPPROTO_IP, socket.IP_TTL


def _set(transport: asyncio.BaseTransport | None, value: int) -> bool:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    level, option = _levels(sock)
    try:
        sock.setsockopt(level, option, value)
    except OSError:  # not an IP socket (tests with a unix socket): nothing to emulate
        log.debug("cannot set the IP TTL on %r", sock)
        return False
    return True


def limit_hops(transport: asyncio.BaseTransport | None, hop_limit: int) -> None:
    """Send what follows on this connection with IP TTL = ``hop_limit`` (until :func:`restore`)."""
    if transport is not None and _set(transport, hop_limit):
        _raised.add(transport)


def restore(transport: asyncio.BaseTransport | None) -> None:
    """Back to the system default TTL, if :func:`limit_hops` changed this connection."""
    if transport is not None and transport in _raised:
        _raised.discard(transport)
        _set(transport, -1)
