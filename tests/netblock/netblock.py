"""Refuse every outbound network use that does not stay on this machine.

Covers the three ways out: connecting (TCP, or UDP "connected"), sending a datagram to
an address (``sendto`` / ``sendmsg``), and resolving a name (``getaddrinfo`` and the
``gethostby*`` family), since a DNS query is itself traffic leaving the machine.
Loopback, Unix sockets, ``localhost`` and this machine's own host name stay allowed.

Installed by the test suite's conftest, and by sitecustomize.py in this folder for the
subprocesses the tests start (they put this folder on PYTHONPATH)."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_sendto = socket.socket.sendto
_original_sendmsg = socket.socket.sendmsg
_original_getaddrinfo = socket.getaddrinfo
_original_gethostbyname = socket.gethostbyname
_original_gethostbyname_ex = socket.gethostbyname_ex


class NetworkBlocked(OSError):
    pass


def _local_name(host: object) -> bool:
    """A host that resolves without asking a name server: loopback, IP literals, our own name."""
    if host in ("localhost", "", None, b"localhost", b""):
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.endswith(".localhost") or name == socket.gethostname():
        return True
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True  # a literal address needs no lookup; connecting to it is checked separately


def _loopback(host: object) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


def _allowed(sock: socket.socket, address: object) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    return _loopback(address[0] if isinstance(address, tuple) else address)


def _refuse(what: object) -> None:
    log = os.environ.get("NETBLOCK_LOG")
    if log:  # record the attempt too: a library may swallow the exception
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{what!r}\n")
    raise NetworkBlocked(f"outbound network blocked in tests: {what!r}")


def _connect(self: socket.socket, address: object) -> None:
    if not _allowed(self, address):
        _refuse(address)
    return _original_connect(self, address)  # type: ignore[arg-type]


def _connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(self, address):
        _refuse(address)
    return _original_connect_ex(self, address)  # type: ignore[arg-type]


def _sendto(self: socket.socket, data: Any, *rest: Any) -> int:
    address = rest[-1] if rest else None  # sendto(data, address) or sendto(data, flags, address)
    if address is not None and not _allowed(self, address):
        _refuse(address)
    return _original_sendto(self, data, *rest)


def _sendmsg(self: socket.socket, buffers: Any, *rest: Any) -> int:
    address = rest[2] if len(rest) >= 3 else None  # sendmsg(buffers, ancdata, flags, address)
    if address is not None and not _allowed(self, address):
        _refuse(address)
    return _original_sendmsg(self, buffers, *rest)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _local_name(host):
        _refuse(f"name lookup {host!r}")
    return _original_getaddrinfo(host, *args, **kwargs)


def _gethostbyname(host: str) -> str:
    if not _local_name(host):
        _refuse(f"name lookup {host!r}")
    return _original_gethostbyname(host)


def _gethostbyname_ex(host: str) -> Any:
    if not _local_name(host):
        _refuse(f"name lookup {host!r}")
    return _original_gethostbyname_ex(host)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _sendto  # type: ignore[method-assign, assignment]
    socket.socket.sendmsg = _sendmsg  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
    socket.gethostbyname = _gethostbyname
    socket.gethostbyname_ex = _gethostbyname_ex
