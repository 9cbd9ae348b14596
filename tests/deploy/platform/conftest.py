"""Fixtures of the platform's tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from deploy.platform.processes import LOCALHOST


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A port held by this process, which the platform did not start."""
    with socket.socket() as server:
        server.bind((LOCALHOST, 0))
        server.listen()
        yield server
