"""ingest.mqtt_client: the buffered socket keeps the contract paho's reader relies on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ingest.mqtt_client import CHUNK_BYTES, BufferedSocket


@pytest.fixture
def pair() -> Iterator[tuple[BufferedSocket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield BufferedSocket(ours), theirs
    ours.close()
    theirs.close()


def test_small_reads_are_served_from_one_large_read(
    pair: tuple[BufferedSocket, socket.socket],
) -> None:
    sock, peer = pair
    peer.sendall(b"\x30\x05hello\x30\x02hi")

    assert sock.recv(1) == b"\x30"
    assert sock.buffered() == 10 and sock.pending() == 10
    assert [sock.recv(1), sock.recv(5), sock.recv(1), sock.recv(1), sock.recv(2)] == [
        b"\x05",
        b"hello",
        b"\x30",
        b"\x02",
        b"hi",
    ]
    assert sock.buffered() == 0


def test_a_read_past_the_buffer_returns_what_is_there(
    pair: tuple[BufferedSocket, socket.socket],
) -> None:
    sock, peer = pair
    peer.sendall(b"abc")

    assert sock.recv(1) == b"a"
    assert sock.recv(100) == b"bc"  # short, as a socket's recv may be; paho reads on


def test_nothing_to_read_raises_blocking_io_error_as_a_socket_does(
    pair: tuple[BufferedSocket, socket.socket],
) -> None:
    sock, _ = pair

    with pytest.raises(BlockingIOError):
        sock.recv(1)


def test_a_closed_peer_reads_as_empty(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(b"x")
    peer.close()

    assert sock.recv(10) == b"x"
    assert sock.recv(10) == b""


def test_large_reads_take_at_most_one_chunk(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.setblocking(False)
    sent = peer.send(b"z" * (CHUNK_BYTES + 1000))

    got = sock.recv(1)

    assert got == b"z" and sock.buffered() == min(sent, CHUNK_BYTES) - 1


def test_writes_and_the_descriptor_go_to_the_real_socket(
    pair: tuple[BufferedSocket, socket.socket],
) -> None:
    sock, peer = pair

    assert sock.send(b"\x40\x02\x00\x01") == 4
    assert peer.recv(4) == b"\x40\x02\x00\x01"
    assert sock.fileno() >= 0
    assert sock.getsockname() is not None  # anything else is the real socket's
