"""The endpoint's server: an HTTPS proxy on 127.0.0.1 that answers ``CONNECT`` only for the hosts it serves
(management.azure.com, *.vault.azure.net, login.microsoftonline.com), terminates TLS there with the home's
certificate, and serves the requests from the engine on the home. Nothing is ever forwarded: a ``CONNECT``
to any other host, and any plain request, is refused.

Requests are served one at a time by one engine thread (the engine is one unit of work at a time anyway);
before each, the engine catches up with what other processes (the console, ``cmklab az``) committed.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
from engine._light import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web

from engine.errors import (Conflict, EngineError, Forbidden, NotFound, OperationNotAllowed, QuotaExceeded, ReadOnly,
                           StoreError)

from . import identity
from .pki import EndpointFiles, is_served_host

MAX_HEAD = 16 * 1024
MAX_BODY = 4 * 1024 * 1024


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

    def add(self, method: str, pattern: str, fn=None):
        def deco(f):
            for m in method.split(","):
                self.routes.append((m, re.compile("^" + pattern + "/?$", re.I), f))
            return f
        return deco(fn) if fn is not None else deco

    def match(self, method: str, path: str):
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
        from . import arm, graph, vault

        self.arm, self.vault, self.graph = arm.ROUTER, vault.ROUTER, graph.ROUTER

    # ---- running -----------------------------------------------------------------------------

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._ssl = self.files.server_ssl_context()
        self._server = await self._loop.create_server(lambda: _Front(self), host="127.0.0.1", port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self._server.close()
        await self._runner.cleanup()
        if self._requests_log is not None:
            import os

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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0].lower()
        if request.headers.get("Origin") is not None:
            self._say(f"refused a request with Origin {request.headers['Origin']!r}")
            return web.json_response({"error": {"code": "Forbidden", "message": (
                "cmklab's endpoint serves command-line clients and SDKs only: a request from a web page "
                f"(Origin {request.headers['Origin']}) is refused")}}, status=403)
        if not is_served_host(host):
            return web.json_response({"error": {"code": "MisdirectedRequest", "message": (
                f"host {host!r} is not served here")}}, status=421)
        raw = await request.read()
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
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
            return self._login(request, raw, query)
        try:
            claims = self._authenticate(request, host)
        except HttpError as err:
            return self._error(host, err)
        req = Req(request.method, request.path, query, body, host, claims["oid"],
                  claims["oid"] == self.engine.meta.user_object_id.lower())
        router = self.vault if host.endswith(".vault.azure.net") else self.graph if host == "graph.microsoft.com" \
            else self.arm
        # In the loop's thread: the engine does one action at a time anyway, and a hop to a worker thread
        # costs more than most requests (a slow one, a 4096-bit key, holds the other clients as it would
        # hold the engine).
        resp = self._dispatch(router, req)
        self._record(f"{req.method} https://{host}{req.path} -> {resp.status} ({claims.get('appid')})")
        headers = dict(resp.headers)
        headers.setdefault("x-ms-request-id", "cmklab")
        if resp.body is None:
            return web.Response(status=resp.status, headers=headers)
        return web.json_response(resp.body, status=resp.status, headers=headers,
                                 dumps=lambda o: json.dumps(o, separators=(",", ":")))

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
            with self.engine.acting_as(req.principal):
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

    def _error(self, host: str, err: HttpError) -> web.Response:
        resp = self._error_resp(host, err.status, err.code, err.message, dict(err.extra))
        return web.json_response(resp.body, status=resp.status, headers=resp.headers)

    def _authenticate(self, request: web.Request, host: str) -> dict:
        vault = host.endswith(".vault.azure.net")
        auth = request.headers.get("Authorization", "")
        if host == "graph.microsoft.com":
            try:
                return identity.verify(self.files.token_key, auth[7:].strip(), identity.GRAPH_AUDIENCES)
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
                return identity.verify(self.files.token_key, auth[7:].strip(), identity.VAULT_AUDIENCES)
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
            return identity.verify(self.files.token_key, auth[7:].strip(), identity.ARM_AUDIENCES)
        except identity.InvalidToken as err:
            raise HttpError(401, "InvalidAuthenticationToken", f"The access token is invalid. {err}",
                            headers={"WWW-Authenticate": realm}) from None

    def _login(self, request: web.Request, raw: bytes, query: dict) -> web.Response:
        path = request.path.rstrip("/")
        parts = path.strip("/").split("/")
        if path.endswith("/discovery/instance"):
            return web.json_response(identity.instance_discovery())
        tenant = parts[0] if parts else ""
        known = tenant.lower() in (self.tenant.lower(), "organizations", "common")
        if path.endswith("/.well-known/openid-configuration"):
            if not known:
                return web.json_response(identity.aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not "
                                                            "found."), status=400)
            return web.json_response(identity.openid_configuration(self.tenant if tenant in ("organizations",
                                                                                              "common") else tenant))
        if path.endswith("/oauth2/v2.0/token") or path.endswith("/oauth2/token"):
            return self._token(tenant, raw)
        return web.json_response(identity.aad_error("invalid_request", 900561, f"The endpoint {path} is not "
                                                    "served by cmklab (client credentials only)."), status=400)

    def _token(self, tenant: str, raw: bytes) -> web.Response:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if tenant.lower() != self.tenant.lower():
            return web.json_response(identity.aad_error("invalid_request", 90002, f"Tenant '{tenant}' not found. "
                                                        f"This home's tenant is {self.tenant}."), status=400)
        if form.get("grant_type") != "client_credentials":
            return web.json_response(identity.aad_error("unsupported_grant_type", 70003, "The app requested an "
                                                        "unsupported grant type; cmklab issues tokens for "
                                                        "client_credentials only."), status=400)
        client = form.get("client_id", "")
        p = self.files.check_secret(client, form.get("client_secret", ""))
        if p is None:
            return web.json_response(identity.aad_error("unauthorized_client", 700016, f"Application with "
                                                        f"identifier '{client}' was not found in the directory "
                                                        f"'{self.tenant}'."), status=400)
        if p is False:
            return web.json_response(identity.aad_error("invalid_client", 7000215, "Invalid client secret "
                                                        "provided."), status=401)
        aud = identity.audience_of(form.get("scope", "") or form.get("resource", ""))
        if aud is None:
            return web.json_response(identity.aad_error("invalid_scope", 70011, f"The provided value for scope "
                                                        f"{form.get('scope')!r} is not served by cmklab (ARM and "
                                                        "Key Vault)."), status=400)
        token = identity.issue(self.files.token_key, tenant=self.tenant, client_id=client,
                               object_id=p["objectId"].lower(), audience=aud)
        self._say(f"token issued to {p.get('name')} ({client}) for {aud}")
        return web.json_response({"token_type": "Bearer", "expires_in": identity.LIFETIME,
                                  "ext_expires_in": identity.LIFETIME, "access_token": token})

    def _say(self, line: str) -> None:
        if self.log:
            self.log(line)

    def _record(self, line: str) -> None:
        """Each served request, one line in ``endpoint/requests.log`` (0600): time, method, URL without its
        query, status and the calling application; never a token or a secret."""
        self._say(line)
        if self._requests_log is None:
            import os

            path = self.files.dir / "requests.log"
            self._requests_log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.chmod(path, 0o600)
        import os
        import time

        os.write(self._requests_log, f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n".encode())


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
        proto = self.ep._runner.server()
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
