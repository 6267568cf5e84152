"""The suite's network block: connecting out, sending a datagram out and looking up a
name all fail, here and in the subprocesses the tests start; loopback keeps working."""

import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

# Documentation addresses (RFC 5737) and a reserved name (RFC 2606): nothing there answers,
# so a block that failed would show as a timeout or a resolver error, not as "blocked".
OUTSIDE = ("192.0.2.1", 53)
NAME = "example.com"


def test_outbound_connections_are_refused_in_tests():
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_a_udp_datagram_to_a_non_loopback_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="blocked"):
        udp.sendto(b"hello", OUTSIDE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="blocked"):
        udp.sendto(b"hello", 0, OUTSIDE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError, match="blocked"):
        udp.sendmsg([b"hello"], [], 0, OUTSIDE)


@pytest.mark.parametrize(
    "lookup",
    [
        lambda: socket.getaddrinfo(NAME, 80),
        lambda: socket.gethostbyname(NAME),
        lambda: socket.gethostbyname_ex(NAME),
        lambda: socket.create_connection((NAME, 80), timeout=1),
    ],
)
def test_a_dns_lookup_of_a_non_local_name_is_refused(lookup):
    with pytest.raises(OSError, match="blocked"):
        lookup()


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()


def test_loopback_datagrams_and_local_names_are_allowed():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"ping", receiver.getsockname())
        assert receiver.recvfrom(16)[0] == b"ping"
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


_SUBPROCESS_PROBES = {
    "tcp": "socket.create_connection(('192.0.2.1', 80), timeout=1)",
    "udp": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 53))",
    "dns": "socket.getaddrinfo('example.com', 80)",
}


@pytest.mark.parametrize("probe", sorted(_SUBPROCESS_PROBES))
def test_subprocesses_are_blocked_too(probe):
    code = (
        f"import socket\ntry:\n    {_SUBPROCESS_PROBES[probe]}\n    print('sent')\nexcept OSError as e:\n    print(e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=60
    )
    assert "blocked" in out.stdout, out.stdout + out.stderr
