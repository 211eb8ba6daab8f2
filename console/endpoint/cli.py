"""``cmklab endpoint``: serve the home to the real Azure clients; ``--env`` prints the exports that point
them at it; ``sp create --name NAME`` makes a service principal to sign in as (its password shown once)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

DEFAULT_PORT = 8443


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cmklab endpoint",
        description="Serve this home to the unmodified az CLI and Azure SDKs: an HTTPS proxy on 127.0.0.1 "
                    "for management.azure.com, *.vault.azure.net and login.microsoftonline.com, with "
                    "certificates from a CA made for this home. Nothing is forwarded to the internet.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  cmklab endpoint                       # serve (foreground) on 127.0.0.1:8443\n"
               "  eval \"$(cmklab endpoint --env)\"       # in the clients' shell: HTTPS_PROXY, CA, AZURE_*\n"
               "  cmklab endpoint sp create --name app1 # a service principal to grant access to")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port, printed at start)")
    p.add_argument("--env", action="store_true", help="print the exports for the clients' shell and exit")
    p.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    p.add_argument("words", nargs="*", help="sp create --name NAME")
    p.add_argument("--name", help="the service principal's display name (sp create)")
    return p


def _exports(env: dict) -> str:
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append("# then: az login --service-principal -u \"$AZURE_CLIENT_ID\" --password=\"$AZURE_CLIENT_SECRET\" "
                 "--tenant \"$AZURE_TENANT_ID\"")
    return "\n".join(lines)


def run_endpoint(argv: list[str], home=None, seed=None, profile=None, read_only=False, **_: object) -> int:
    args = parser().parse_args(list(argv))
    if not 0 <= args.port < 65536:
        print(f"cmklab endpoint: error: port {args.port} is not between 1 and 65535 (0: any free port)",
              file=sys.stderr)
        return 2
    if args.words and (args.words != ["sp", "create"] or not args.name):
        print("cmklab endpoint: error: the only subcommand is: sp create --name NAME", file=sys.stderr)
        return 2
    from console.session import open_engine
    from engine.errors import EngineError

    try:  # --read-only: the store is opened read-only, and refuses every change the clients ask for (409)
        engine = open_engine(home, seed=seed, profile=profile, read_only=read_only)
        if args.words:
            engine.refuse_if_read_only("a new service principal")
    except EngineError as err:
        print(f"ERROR: ({err.display_code}) {err.message}", file=sys.stderr)
        return 1
    from .server import Endpoint

    if args.words:
        from .pki import EndpointFiles

        sp = EndpointFiles(engine.home).create_principal(args.name)
        print(json.dumps(sp | {"tenant": engine.meta.tenant_id}, indent=2))
        return 0
    ep = Endpoint(Path(engine.home), engine=engine, port=args.port,
                  log=None if args.quiet else (lambda line: print(f"cmklab endpoint: {line}", file=sys.stderr,
                                                                  flush=True)))
    if args.env:
        print(_exports(ep.environment() | {"HTTPS_PROXY": f"http://127.0.0.1:{args.port}",
                                           "https_proxy": f"http://127.0.0.1:{args.port}"}))
        return 0

    def ready(e) -> None:
        print(f"cmklab endpoint: serving {engine.home} on {e.proxy_url} (HTTPS proxy for "
              "management.azure.com, *.vault.azure.net, login.microsoftonline.com); in the clients' shell:\n"
              f"  eval \"$(cmklab --home {shlex.quote(str(engine.home))} endpoint --env --port {e.port})\"",
              file=sys.stderr, flush=True)

    try:
        ep.serve_forever(ready=ready)
    except OSError as err:
        print(f"cmklab endpoint: error: cannot listen on 127.0.0.1:{args.port}: {err.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
