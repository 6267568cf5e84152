"""Refuse every outbound connection that is not to this machine (loopback or a Unix socket).

Installed by the test suite's conftest, and by sitecustomize.py in this folder for the
subprocesses the tests start (they put this folder on PYTHONPATH)."""

from __future__ import annotations

import ipaddress
import os
import socket

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


class NetworkBlocked(OSError):
    pass


def _allowed(sock: socket.socket, address: object) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


def _refuse(address: object) -> None:
    log = os.environ.get("NETBLOCK_LOG")
    if log:  # record the attempt too: a library may swallow the exception
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{address!r}\n")
    raise NetworkBlocked(f"outbound network blocked in tests: {address!r}")


def _connect(self: socket.socket, address: object) -> None:
    if not _allowed(self, address):
        _refuse(address)
    return _original_connect(self, address)  # type: ignore[arg-type]


def _connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(self, address):
        _refuse(address)
    return _original_connect_ex(self, address)  # type: ignore[arg-type]


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
