"""The endpoint's server: an HTTPS proxy on 127.0.0.1 that answers ``CONNECT`` only for the hosts it serves
(management.azure.com, *.vault.azure.net, login.microsoftonline.com), terminates TLS there with the home's
certificate, and serves the requests from the engine on the home. Nothing is ever forwarded: a ``CONNECT``
to any other host, and any plain request, is refused.

Inside a tunnel, HTTP/1.1 is read by a small protocol of its own (:class:`_Tunnel`): keep-alive, bodies with
``Content-Length`` or chunked, requests answered in order. Requests are served one at a time in the event
loop's thread (the engine is one unit of work at a time anyway); before each, the engine catches up with what
other processes (the console, ``cmklab az``) committed, at the cost of three ``stat`` calls when none did.
A token's signature is checked once (its claims are kept until it expires; expiry and audience are checked
at every request), and a path's route is found once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from engine._light import dataclass, field

from engine.errors import (Conflict, EngineError, Forbidden, NotFound, OperationNotAllowed, QuotaExceeded, ReadOnly,
                           StoreError)

from . import identity
from .pki import EndpointFiles, is_served_host

MAX_HEAD = 16 * 1024
MAX_BODY = 4 * 1024 * 1024
ROUTE_CACHE = 4096
TOKEN_CACHE = 4096
IDLE_SECONDS = 120.0
"""A keep-alive tunnel with no request for this long is closed."""


@dataclass
class Req:
    """A request as a route handler sees it (in the engine thread)."""

    method: str
    path: str
    query: dict
    body: object
    host: str
    principal: str  # object id of the caller
    operator: bool  # the home's own operator (full management rights, as the CLI)
    origin: dict | None = None  # what the journal lines of its actions carry (Engine.acting_as)


@dataclass
class Resp:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


class HttpError(Exception):
    """A refusal that is not an engine error (routing, api-version, authorisation, bad body)."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def status_of(err: EngineError) -> int:
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, Forbidden):
        return 403
    if isinstance(err, (Conflict, OperationNotAllowed, QuotaExceeded, ReadOnly)):
        return 409
    if isinstance(err, StoreError):
        return 500
    return 400


class Router:
    """Routes: (method, compiled path regex, handler); paths compare case-insensitively, as ARM's do."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern, object]] = []
        self._found: dict[tuple[str, str], tuple] = {}
        """(method, path) -> what :meth:`match` answered (bounded: cleared when full)."""

    def add(self, method: str, pattern: str, fn=None):
        def deco(f):
            for m in method.split(","):
                self.routes.append((m, re.compile("^" + pattern + "/?$", re.I), f))
            return f
        return deco(fn) if fn is not None else deco

    def match(self, method: str, path: str):
        """``(handler, its path parameters)``, or ``(None, whether another method has the path)``."""
        found = self._found.get((method, path))
        if found is None:
            if len(self._found) >= ROUTE_CACHE:
                self._found.clear()
            found = self._found[(method, path)] = self._match(method, path)
        return found

    def _match(self, method: str, path: str):
        allowed = False
        for m, rx, fn in self.routes:
            found = rx.match(path)
            if found:
                if m == method:
                    return fn, found.groupdict()
                allowed = True
        return None, allowed


class Endpoint:
    """The endpoint on one home: ``start()`` in a thread (tests, benchmarks) or ``serve_forever()``."""

    def __init__(self, home, *, engine=None, port: int = 0, log=None) -> None:
        from console.session import open_engine

        self.home = home
        self.engine = engine if engine is not None else open_engine(home)
        self.files = EndpointFiles(home)
        self.tenant = self.engine.meta.tenant_id
        self.operator = self.files.operator_principal(self.engine.meta.user_object_id)
        self.port = port
        self.log = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self.operations: dict[str, dict] = {}
        self._requests_log: int | None = None
        self._served = 0
        self._pid = os.getpid()
        self._names: dict[str, str] = {}
        self._tokens: dict[str, dict] = {}
        """token -> its claims, once its signature held (until it expires: see _verify)."""
        self._tunnels: set[_Tunnel] = set()
        self._queries: dict[str, dict] = {}
        from . import arm, graph, vault

        self.arm, self.vault, self.graph = arm.ROUTER, vault.ROUTER, graph.ROUTER

    # ---- running -----------------------------------------------------------------------------

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._ssl = self.files.server_ssl_context()
        self._server = await self._loop.create_server(lambda: _Front(self), host="127.0.0.1", port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        for tunnel in list(self._tunnels):
            tunnel.close()
        if self._requests_log is not None:
            os.close(self._requests_log)
            self._requests_log = None

    def serve_forever(self, ready=None) -> None:
        async def main():
            await self._start()
            if ready:
                ready(self)
            try:
                await self._stopped.wait()
            finally:
                await self._stop()
        asyncio.run(main())

    def start(self) -> "Endpoint":
        started = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"ready": lambda _: started.set()},
                                        name="cmklab-endpoint", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the endpoint did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(30)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict:
        """The exports that point clients at this endpoint (``cmklab endpoint --env``)."""
        ca = str(self.files.ca_pem)
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url, "NO_PROXY": "", "no_proxy": "",
                "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca, "AZURE_TENANT_ID": self.tenant,
                "AZURE_CLIENT_ID": self.operator["clientId"], "AZURE_CLIENT_SECRET": self.operator["secret"],
                "AZURE_SUBSCRIPTION_ID": self.engine.meta.subscription_id}

    # ---- one request ---------------------------------------------------------------------------

    def serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Resp:
        """One request as a tunnel read it (``headers`` by lower-case name), answered in the loop's thread:
        the engine does one action at a time anyway, and a hop to a worker thread costs more than most
        requests (a slow one, a 4096-bit key, holds the other clients as it would hold the engine)."""
        host = headers.get("host", "").split(":")[0].lower()
        origin = headers.get("origin")
        if origin is not None:
            self._say(f"refused a request with Origin {origin!r}")
            return Resp(403, {"error": {"code": "Forbidden", "message": (
                "cmklab's endpoint serves command-line clients and SDKs only: a request from a web page "
                f"(Origin {origin}) is refused")}})
        if not is_served_host(host):
            return Resp(421, {"error": {"code": "MisdirectedRequest", "message": f"host {host!r} is not served here"}})
        path, _, query_string = target.partition("?")
        if path.startswith("https://"):  # absolute-form: the host is the Host header's
            path = "/" + path[8:].partition("/")[2]
        path = unquote(path) if "%" in path else path
        query = self._query(query_string)
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                if host != "login.microsoftonline.com":
                    return self._error(host, HttpError(400, "InvalidRequestContent",
                                                       "The request content was invalid and could not be "
                                                       "deserialized: it is not JSON."))
        if host == "login.microsoftonline.com":
            return self._login(path, raw, query)
        try:
            claims = self._authenticate(headers.get("authorization", ""), host)
        except HttpError as err:
            return self._error(host, err)
        req = Req(method, path, query, body, host, claims["oid"], claims["oid"] == self.engine.meta.user_object_id.lower())
        req.origin = self._origin(req, claims)
        router = self.vault if host.endswith(".vault.azure.net") else self.graph if host == "graph.microsoft.com" \
            else self.arm
        resp = self._dispatch(router, req)
        self._record(f"{req.method} https://{host}{req.path} -> {resp.status} ({claims.get('appid')})")
        resp.headers = dict(resp.headers)
        resp.headers.setdefault("x-ms-request-id", "cmklab")
        return resp

    def _dispatch(self, router: Router, req: Req) -> Resp:
        try:
            fn, found = router.match(req.method, req.path)
            if fn is None:
                if found:
                    raise HttpError(405, "MethodNotAllowed", f"The requested method {req.method} is not allowed "
                                    f"on {req.path}.")
                raise HttpError(404, "InvalidResourceType" if router is self.arm else "NotFound",
                                f"No route {req.method} {req.path} is served by cmklab's endpoint (it serves what "
                                "the engine models: resource groups, vaults, role assignments, disks, snapshots, "
                                "images, disk encryption sets, VMs, and Key Vault keys).")
            self.engine.refresh_if_changed()
            with self.engine.acting_as(req.principal, req.origin):
                return fn(self, req, **found)
        except HttpError as err:
            return self._error_resp(req.host, err.status, err.code, err.message, err.extra)
        except EngineError as err:
            extra = {"innererror": {"code": err.inner_code}} if err.inner_code else {}
            return self._error_resp(req.host, status_of(err), err.code, err.message, extra)
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            # a body of the wrong shape (a string where an object belongs ...): refused, nothing changed
            return self._error_resp(req.host, 400, "InvalidRequestContent", f"The request content could not be "
                                    f"understood ({type(err).__name__}: {err}); see the API's model for "
                                    f"{req.method} {req.path}.", {})
        except Exception as err:  # a bug: say so, change nothing (the unit of work rolled back)
            import traceback

            traceback.print_exc(file=sys.stderr)
            return self._error_resp(req.host, 500, "InternalServerError", f"cmklab's endpoint failed on {req.method} "
                                    f"{req.path}: {type(err).__name__}: {err}", {})

    def _error_resp(self, host: str, status: int, code: str, message: str, extra: dict) -> Resp:
        headers = extra.pop("headers", {}) if extra else {}
        body = {"error": {"code": code, "message": message, **(extra or {})}}
        return Resp(status, body, headers)

    def _query(self, text: str) -> dict:
        """A query string's parameters (clients send the same few, ``api-version=...``: each parsed once)."""
        if not text:
            return {}
        found = self._queries.get(text)
        if found is None:
            if len(self._queries) >= ROUTE_CACHE:
                self._queries.clear()
            found = self._queries[text] = dict(parse_qsl(text, keep_blank_values=True))
        return dict(found)

    def _error(self, host: str, err: HttpError) -> Resp:
        return self._error_resp(host, err.status, err.code, err.message, dict(err.extra))

    def _verify(self, token: str, audiences: tuple[str, ...]) -> dict:
        """The claims of a token valid for ``audiences`` now (identity.verify): its signature is checked the
        first time it is presented, its expiry and audience every time."""
        claims = self._tokens.get(token)
        if claims is None:
            claims = identity.signed_claims(self.files.token_key, token)
            if len(self._tokens) >= TOKEN_CACHE:
                self._tokens.clear()
            self._tokens[token] = claims
        return identity.check(claims, audiences)

    def _authenticate(self, auth: str, host: str) -> dict:
        vault = host.endswith(".vault.azure.net")
        if host == "graph.microsoft.com":
            try:
                return self._verify(auth[7:].strip(), identity.GRAPH_AUDIENCES)
            except identity.InvalidToken as err:
                raise HttpError(401, "InvalidAuthenticationToken", f"Access token validation failure. {err}") \
                    from None
        if vault:
            challenge = (f'Bearer authorization="https://login.microsoftonline.com/{self.tenant}", '
                         f'resource="https://vault.azure.net"')
            if not auth.lower().startswith("bearer "):
                raise HttpError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                                headers={"WWW-Authenticate": challenge})
            try:
                return self._verify(auth[7:].strip(), identity.VAULT_AUDIENCES)
            except identity.InvalidToken as err:
                raise HttpError(401, "Unauthorized", f"AKV10022: Invalid audience or token: {err}",
                                headers={"WWW-Authenticate": challenge}) from None
        realm = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
        if not auth:
            raise HttpError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                            "missing.", headers={"WWW-Authenticate": realm + ', error_description="The '
                                                 "authentication failed because of missing 'Authorization' "
                                                 'header."'})
        if not auth.lower().startswith("bearer "):
            raise HttpError(401, "AuthenticationFailedInvalidHeader", "Authentication failed. The 'Authorization' "
                            "header is provided in an invalid format.", headers={"WWW-Authenticate": realm})
        try:
            return self._verify(auth[7:].strip(), identity.ARM_AUDIENCES)
        except identity.InvalidToken as err:
            raise HttpError(401, "InvalidAuthenticationToken", f"The access token is invalid. {err}",
                            headers={"WWW-Authenticate": realm}) from None

    def _login(self, path: str, raw: bytes, query: dict) -> Resp:
        path = path.rstrip("/")
        parts = path.strip("/").split("/")
        if path.endswith("/discovery/instance"):
            return Resp(200, identity.instance_discovery())
        tenant = parts[0] if parts else ""
        known = tenant.lower() in (self.tenant.lower(), "organizations", "common")
        if path.endswith("/.well-known/openid-configuration"):
            if not known:
                return Resp(400, identity.aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found."))
            return Resp(200, identity.openid_configuration(
                self.tenant if tenant in ("organizations", "common") else tenant))
        if path.endswith("/oauth2/v2.0/token") or path.endswith("/oauth2/token"):
            return self._token(tenant, raw)
        return Resp(400, identity.aad_error("invalid_request", 900561, f"The endpoint {path} is not served by "
                                            "cmklab (client credentials only)."))

    def _token(self, tenant: str, raw: bytes) -> Resp:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if tenant.lower() != self.tenant.lower():
            return Resp(400, identity.aad_error("invalid_request", 90002, f"Tenant '{tenant}' not found. This "
                                                f"home's tenant is {self.tenant}."))
        if form.get("grant_type") != "client_credentials":
            return Resp(400, identity.aad_error("unsupported_grant_type", 70003, "The app requested an "
                                                "unsupported grant type; cmklab issues tokens for "
                                                "client_credentials only."))
        client = form.get("client_id", "")
        p = self.files.check_secret(client, form.get("client_secret", ""))
        if p is None:
            return Resp(400, identity.aad_error("unauthorized_client", 700016, f"Application with identifier "
                                                f"'{client}' was not found in the directory '{self.tenant}'."))
        if p is False:
            return Resp(401, identity.aad_error("invalid_client", 7000215, "Invalid client secret provided."))
        aud = identity.audience_of(form.get("scope", "") or form.get("resource", ""))
        if aud is None:
            return Resp(400, identity.aad_error("invalid_scope", 70011, f"The provided value for scope "
                                                f"{form.get('scope')!r} is not served by cmklab (ARM and Key "
                                                "Vault)."))
        token = identity.issue(self.files.token_key, tenant=self.tenant, client_id=client,
                               object_id=p["objectId"].lower(), audience=aud)
        self._say(f"token issued to {p.get('name')} ({client}) for {aud}")
        return Resp(200, {"token_type": "Bearer", "expires_in": identity.LIFETIME,
                          "ext_expires_in": identity.LIFETIME, "access_token": token})

    def _origin(self, req: Req, claims: dict) -> dict:
        """The note a request's journal lines carry (``Engine.acting_as``): the caller (object id and the
        name it signed in as) and the request (method and URL without its query), and a number of its own
        so that a reader groups the lines of one request."""
        self._served += 1
        return {"via": "endpoint", "principal": req.principal, "name": self._app_name(claims.get("appid") or ""),
                "request": f"{req.method} https://{req.host}{req.path}", "seq": f"{self._pid}.{self._served}"}

    def _app_name(self, client_id: str) -> str:
        """The display name of the application a token was issued to (read once per client id)."""
        name = self._names.get(client_id)
        if name is None:
            p = self.files.principals().get(client_id.lower()) or self.files.principals().get(client_id) or {}
            name = self._names[client_id] = str(p.get("name") or client_id or "unknown")
        return name

    def _say(self, line: str) -> None:
        if self.log:
            self.log(line)

    def _record(self, line: str) -> None:
        """Each served request, one line in ``endpoint/requests.log`` (0600): time, method, URL without its
        query, status and the calling application; never a token or a secret."""
        self._say(line)
        if self._requests_log is None:
            path = self.files.dir / "requests.log"
            self._requests_log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(path, 0o600)
        os.write(self._requests_log, f"{_now()[1]} {line}\n".encode())


class _Front(asyncio.Protocol):
    """The proxy's side of a client connection: reads one ``CONNECT host:443``, answers it, and hands
    the connection, now TLS, to the HTTP server (keep-alive within the tunnel)."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.buf = b""
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        # a client that never sends its CONNECT is let go (nothing waits on it forever)
        self._idle = asyncio.get_running_loop().call_later(30, transport.close)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # small requests and answers go out at once (no Nagle delay on keep-alive)
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self.buf and data[:1] == b"\x16":  # a TLS ClientHello straight to the port: not a proxy client
            print("cmklab endpoint: refused a TLS connection made without CONNECT (use it as HTTPS_PROXY)",
                  file=sys.stderr)
            self.transport.close()
            return
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                self._refuse(431, "request head too large")
            return
        head = self.buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if len(parts) != 3 or parts[0] != "CONNECT":
            self._refuse(405, "cmklab's endpoint is an HTTPS proxy for management.azure.com, *.vault.azure.net "
                         "and login.microsoftonline.com: only CONNECT to those hosts is served, and nothing is "
                         "forwarded to the internet")
            return
        if "origin" in headers:
            self._refuse(403, f"a CONNECT from a web page (Origin {headers['origin']}) is refused")
            return
        host, _, port = parts[1].rpartition(":")
        if port != "443" or not is_served_host(host):
            print(f"cmklab endpoint: refused CONNECT {parts[1]} (not a host cmklab serves; nothing is forwarded)",
                  file=sys.stderr)
            self._refuse(403, f"CONNECT {parts[1]} refused: cmklab serves management.azure.com, *.vault.azure.net "
                         "and login.microsoftonline.com on port 443 and never forwards to the internet")
            return
        self._idle.cancel()
        self.transport.pause_reading()
        self.transport.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        asyncio.ensure_future(self._upgrade())

    async def _upgrade(self) -> None:
        loop = asyncio.get_running_loop()
        proto = _Tunnel(self.ep)
        try:
            tls = await loop.start_tls(self.transport, proto, self.ep._ssl, server_side=True,
                                       ssl_handshake_timeout=30)
        except (OSError, ConnectionError, asyncio.TimeoutError) as err:
            print(f"cmklab endpoint: TLS handshake failed: {err}", file=sys.stderr)
            self.transport.close()
            return
        if tls is None:
            return
        proto.connection_made(tls)

    def connection_lost(self, exc) -> None:
        self._idle.cancel()

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode() + b"\n"
        reason = {403: "Forbidden", 405: "Method Not Allowed", 431: "Request Header Fields Too Large"}[status]
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: "
                             f"{len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        self.transport.close()


_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _Tunnel(asyncio.Protocol):
    """HTTP/1.1 inside a tunnel, once TLS is up: one request after another on a keep-alive connection
    (pipelined ones answered in order), each served at once (:meth:`Endpoint.serve`). Request bodies come
    with ``Content-Length`` or chunked; a head beyond ``MAX_HEAD``, a body beyond ``MAX_BODY`` or a request
    that is not HTTP/1.x is answered with its error and the connection closed."""

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.buf = bytearray()
        self.transport = None
        self.closing = False
        self._continued = False
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._idle = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.ep._tunnels.add(self)
        self._idle = self._loop.call_later(IDLE_SECONDS, self._check_idle)
        if self.buf:  # the client's first request came with the end of the handshake
            self._serve()

    def connection_lost(self, exc) -> None:
        self.ep._tunnels.discard(self)
        self.closing = True
        if self._idle is not None:
            self._idle.cancel()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _check_idle(self) -> None:
        """A keep-alive connection with no request for ``IDLE_SECONDS`` is closed (clients open another)."""
        quiet = self._loop.time() - self._last
        if quiet >= IDLE_SECONDS:
            self.close()
        else:
            self._idle = self._loop.call_later(IDLE_SECONDS - quiet, self._check_idle)

    def pause_writing(self) -> None:
        # the client does not read its answers: read no more of its requests until it does
        self._paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        self.transport.resume_reading()
        self._serve()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._last = self._loop.time()
        if self.transport is not None:
            self._serve()

    def _serve(self) -> None:
        while not self.closing and not self._paused:
            request = self._next()
            if request is None:
                return
            method, target, headers, body, keep = request
            try:
                resp = self.ep.serve(method, target, headers, body)
            except Exception as err:  # noqa: BLE001 - a bug: answered as such, the connection goes on
                import traceback

                traceback.print_exc(file=sys.stderr)
                resp = Resp(500, {"error": {"code": "InternalServerError", "message": f"cmklab's endpoint failed "
                                            f"on {method} {target.partition('?')[0]}: {type(err).__name__}"}})
            self._write(resp, keep, head_only=method == "HEAD")
            if not keep:
                self.close()

    def _next(self):
        """The next whole request in the buffer (consumed): ``(method, target, headers, body, keep-alive)``;
        None while it is incomplete (or after answering a malformed one)."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                self._refuse(431)
            return None
        if end > MAX_HEAD:
            self._refuse(431)
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._refuse(400)
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._refuse(400)
                return None
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            found = self._chunked(start)
            if found is None:
                self._expect(headers)
                return None
            body, start = found
        else:
            try:
                size = int(headers.get("content-length", "0"))
            except ValueError:
                size = -1
            if size < 0:
                self._refuse(400)
                return None
            if size > MAX_BODY:
                self._refuse(413)
                return None
            if len(buf) - start < size:
                self._expect(headers)
                return None
            body, start = bytes(buf[start:start + size]), start + size
        del buf[:start]
        self._continued = False
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
        return parts[0], parts[1], headers, body, keep

    def _chunked(self, pos: int):
        """A chunked body from ``pos``: ``(body, position after it)``, or None while incomplete."""
        buf, body = self.buf, bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            try:
                size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
            except ValueError:
                self._refuse(400)
                return None
            if len(body) + size > MAX_BODY:
                self._refuse(413)
                return None
            pos = eol + 2
            if size == 0:
                trailer = buf.find(b"\r\n\r\n", pos - 2)  # the trailer (usually none) ends with an empty line
                return (bytes(body), trailer + 4) if trailer >= 0 else None
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos:pos + size]
            pos += size + 2

    def _expect(self, headers: dict) -> None:
        if not self._continued and headers.get("expect", "").lower() == "100-continue":
            self._continued = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _write(self, resp: Resp, keep: bool, *, head_only: bool = False) -> None:
        body = resp.body
        if body is None:
            data, ctype = b"", None
        elif isinstance(body, bytes):
            data, ctype = body, "application/octet-stream"
        else:
            data, ctype = json.dumps(body, separators=(",", ":")).encode(), "application/json; charset=utf-8"
        head = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}", f"Date: {_now()[0]}",
                "Server: cmklab", f"Content-Length: {len(data)}"]
        if ctype is not None:
            head.append(f"Content-Type: {ctype}")
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        if not keep:
            head.append("Connection: close")
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else data))

    def _refuse(self, status: int) -> None:
        message = {400: "the request is not HTTP/1.1", 413: f"the request body is larger than {MAX_BODY} bytes",
                   431: f"the request head is larger than {MAX_HEAD} bytes"}[status]
        self._write(Resp(status, {"error": {"code": _REASONS[status].replace(" ", ""), "message": message}}), False)
        self.buf.clear()
        self.close()


_NOW: list = [0, "", ""]


def _now() -> tuple[str, str]:
    """The wall-clock second as the ``Date`` header and the request log write it (made once a second)."""
    now = int(time.time())
    if _NOW[0] != now:
        _NOW[:] = [now, formatdate(now, usegmt=True), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))]
    return _NOW[1], _NOW[2]
