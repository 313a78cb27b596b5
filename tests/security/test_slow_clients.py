"""Sockets that never finish their headers or bodies cannot stop the site (the real server)."""

from __future__ import annotations

import contextlib
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.server import gunicorn_url  # noqa: F401  (a fixture)

# The login page reads nothing from the database: no commit needs to reach the server.
pytestmark = [pytest.mark.security, pytest.mark.server, pytest.mark.django_db]


def test_slow_headers_and_bodies_leave_the_login_page_answering(gunicorn_url):  # noqa: F811
    address = urlsplit(gunicorn_url)
    host, port = address.hostname, address.port
    slow = []
    try:
        # More slow clients than the test server has workers (one) times any thread pool.
        for n in range(12):
            sock = socket.create_connection((host, port))
            if n % 2:
                sock.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                sock.sendall(
                    b"PUT /api/uploads/00000000-0000-0000-0000-000000000000/files/1/chunks/0 "
                    b"HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\npartial"
                )
            slow.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        response = requests.get(f"{gunicorn_url}/accounts/login/", timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.close()
