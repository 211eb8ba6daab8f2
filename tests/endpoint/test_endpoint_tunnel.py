"""HTTP/1.1 inside the endpoint's tunnels, byte by byte as clients may send it: pipelined requests answered in
order on one keep-alive connection, chunked bodies, ``Expect: 100-continue``, ``Connection: close``, ``HEAD``,
and a malformed or oversized request answered with its error and the connection closed."""

from __future__ import annotations

import json
import socket
import ssl
from urllib.parse import urlencode

import pytest

from console.endpoint.server import MAX_BODY


def _tunnel(endpoint, host: str = "management.azure.com") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", endpoint.port), timeout=30)
    raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1024)
    assert head.startswith(b"HTTP/1.1 200")
    ctx = ssl.create_default_context(cafile=str(endpoint.files.ca_pem))
    return ctx.wrap_socket(raw, server_hostname=host)


class Reader:
    """Responses off one connection, in order."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def response(self, *, head_only: bool = False) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), "the connection closed before a response"
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        size = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < size:
            assert self._fill()
        body, self.buf = self.buf[:size], self.buf[size:]
        return int(lines[0].split(" ")[1]), headers, body

    def closed(self) -> bool:
        try:
            return not self._fill() and not self.buf
        except (ConnectionError, ssl.SSLError):
            return True


def _form(endpoint) -> bytes:
    env = endpoint.environment()
    return urlencode({"grant_type": "client_credentials", "client_id": env["AZURE_CLIENT_ID"],
                      "client_secret": env["AZURE_CLIENT_SECRET"],
                      "scope": "https://management.azure.com/.default"}).encode()


@pytest.fixture(scope="module")
def token(endpoint) -> str:
    sock = _tunnel(endpoint, "login.microsoftonline.com")
    body = _form(endpoint)
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    sock.sendall(f"POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: login.microsoftonline.com\r\n"
                 f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                 + body)
    status, _, data = Reader(sock).response()
    sock.close()
    assert status == 200
    return json.loads(data)["access_token"]


def test_O5_pipelined_requests_are_answered_in_order_on_one_connection(endpoint, token, sub):
    sock = _tunnel(endpoint)
    get = (f"GET /subscriptions/{sub}?api-version=2022-09-01 HTTP/1.1\r\nHost: management.azure.com\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode()
    refused = (f"GET /subscriptions/{sub}?api-version=2022-09-01 HTTP/1.1\r\n"
               "Host: management.azure.com\r\n\r\n").encode()
    sock.sendall(get + refused + get)
    reader = Reader(sock)
    answers = [reader.response() for _ in range(3)]
    assert [a[0] for a in answers] == [200, 401, 200]
    assert json.loads(answers[0][2])["subscriptionId"] == sub
    assert json.loads(answers[1][2])["error"]["code"] == "AuthenticationFailed"
    assert answers[0][1]["content-type"].startswith("application/json")
    sock.close()


def test_O5_a_chunked_body_with_expect_continue_is_read_whole(endpoint):
    sock = _tunnel(endpoint, "login.microsoftonline.com")
    body = _form(endpoint)
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    sock.sendall(f"POST /{tenant}/oauth2/v2.0/token HTTP/1.1\r\nHost: login.microsoftonline.com\r\n"
                 "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n".encode())
    reader = Reader(sock)
    assert reader.response(head_only=True)[0] == 100
    half = len(body) // 2
    for part in (body[:half], body[half:]):
        sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    status, _, data = reader.response()
    assert status == 200 and json.loads(data)["token_type"] == "Bearer"
    sock.close()


def test_O5_head_has_no_body_and_connection_close_closes(endpoint, token, sub):
    sock = _tunnel(endpoint)
    reader = Reader(sock)
    sock.sendall((f"HEAD /subscriptions/{sub}/resourcegroups/no-such-group?api-version=2022-09-01 HTTP/1.1\r\n"
                  f"Host: management.azure.com\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
    assert reader.response(head_only=True)[0] == 404  # (ARM's HEAD of a group: 204 or 404, no body)
    sock.sendall((f"HEAD /subscriptions/{sub}?api-version=2022-09-01 HTTP/1.1\r\nHost: management.azure.com\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    status, headers, _ = reader.response(head_only=True)
    assert status == 405 and int(headers["content-length"]) > 0  # its length, and no body after the head
    sock.sendall((f"GET /subscriptions/{sub}?api-version=2022-09-01 HTTP/1.1\r\nHost: management.azure.com\r\n"
                  f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n").encode())
    status, headers, _ = reader.response()
    assert status == 200 and headers["connection"] == "close"
    assert reader.closed()


@pytest.mark.parametrize("request_bytes, status", [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET / SPDY/3\r\nHost: management.azure.com\r\n\r\n", 400),
    (f"PUT /x HTTP/1.1\r\nHost: management.azure.com\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(), 413),
    (b"GET / HTTP/1.1\r\nHost: management.azure.com\r\nX-Big: " + b"x" * 20000 + b"\r\n\r\n", 431),
])
def test_O5_a_malformed_or_oversized_request_is_refused_and_the_connection_closed(endpoint, request_bytes, status):
    sock = _tunnel(endpoint)
    sock.sendall(request_bytes)
    reader = Reader(sock)
    got, headers, body = reader.response()
    assert got == status and headers["connection"] == "close" and json.loads(body)["error"]["message"]
    assert reader.closed()


def test_O5_an_idle_keep_alive_tunnel_is_closed(endpoint, token, sub, monkeypatch):
    from console.endpoint import server

    monkeypatch.setattr(server, "IDLE_SECONDS", 0.2)
    sock = _tunnel(endpoint)
    sock.sendall((f"GET /subscriptions/{sub}?api-version=2022-09-01 HTTP/1.1\r\nHost: management.azure.com\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    reader = Reader(sock)
    assert reader.response()[0] == 200
    assert reader.closed()  # (the read waits for the server to close it; the socket's timeout is 30 s)
