"""Ports for the demo's and the tests' servers come from below the kernel's ephemeral range."""

import socket

from demo.processes import ephemeral_low, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_free():
    low = ephemeral_low()
    ports = {free_port() for _ in range(20)}

    assert all(1024 <= port < low for port in ports)  # no client socket or port-0 listener gets these
    assert len(ports) > 1  # drawn at random, not the same one each time
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_given():
    taken = []
    try:
        for _ in range(200):
            sock = socket.socket()
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            taken.append(sock)
        in_use = {s.getsockname()[1] for s in taken}
        assert free_port() not in in_use
    finally:
        for sock in taken:
            sock.close()
