"""``cmklab classroom SCENARIO``: one isolated lab per trainee in the browser, and the trainer's overview.

``run_classroom(argv, **opts)`` takes what follows ``cmklab classroom``::

    SCENARIO (--trainees N | --roster FILE) [--dir DIR] [--port N] [--host H] [--allow-host NAME[:PORT]]
             [--tls-cert FILE --tls-key FILE | --tls-self-signed] [--links-only]

It prints one link per trainee and one for the trainer (and keeps them in ``DIR/links.txt``, 0600),
then serves until Ctrl+C. Exit codes as the CLI's: 2 for a usage error, 1 refused, 3 not found.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from engine.errors import EngineError

from console.workshop.serve import HostPolicy, _allow_host, _url, lines_on_stderr, normalize_host

from .room import Classroom, ClassroomError, _write_private, numbered, read_roster

log = logging.getLogger("cmklab.classroom")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.print_usage(sys.stderr)
        print(f"cmklab classroom: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cmklab classroom", formatter_class=argparse.RawDescriptionHelpFormatter,
                description="One lab per trainee in the browser (each in a home of its own, built from the "
                            "scenario's seed), and the trainer's live overview.",
                epilog="Every link carries an unguessable token: a wrong or missing one opens nothing. With\n"
                       "--host 0.0.0.0 the room's network reaches the server, and the tokens keep each lab\n"
                       "to its trainee; without TLS anyone who can watch the network can read the links\n"
                       "(and the consoles): add --tls-cert/--tls-key, or --tls-self-signed.\n"
                       "Starting again with the same --dir resumes every trainee (same links, same homes).")
    p.add_argument("scenario", help="a scenario's name (cmklab scenario list) or your own scenario file (.toml)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--trainees", type=int, metavar="N", help="N trainees, named trainee-01 ... trainee-N")
    who.add_argument("--roster", metavar="FILE", help="trainee names, one a line (letters, digits, . _ -)")
    p.add_argument("--dir", default="cmklab-classroom", metavar="DIR",
                   help="the classroom directory: homes, roster, tokens (default: ./cmklab-classroom)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 (default) this machine only, 0.0.0.0 the room's network")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME[:PORT]", type=_allow_host,
                   help="also accept browsers that reach this server by NAME (a DNS name of this machine); the "
                        "first one is used in the printed links. Repeatable")
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM), with --tls-key")
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument("--tls-self-signed", action="store_true",
                   help="serve HTTPS with a certificate made for this classroom (kept in DIR/tls)")
    p.add_argument("--links-only", action="store_true", help="set the classroom up, print the links, do not serve")
    return p


def _outward_address() -> str:
    """This machine's address on the room's network (the one a route to the outside leaves from; no
    packet is sent), or its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, nothing is sent
            return s.getsockname()[0]
        except OSError:
            return socket.gethostname()


def link_host(args) -> tuple[str, int]:
    if args.allow_host:
        from console.workshop.serve import split_host

        host, port = split_host(args.allow_host[0])
        return host, port or args.port
    if args.host.strip() in ("0.0.0.0", "::", ""):
        return _outward_address(), args.port
    return normalize_host(args.host) or args.host, args.port


def run_classroom(argv: list[str], **opts) -> int:
    args = parser().parse_args(list(argv))
    if not 0 < args.port < 65536:
        print(f"cmklab classroom: error: port {args.port} is not between 1 and 65535", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("cmklab classroom: error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls_self_signed and args.tls_cert:
        print("cmklab classroom: error: --tls-self-signed or --tls-cert/--tls-key, not both", file=sys.stderr)
        return 2
    if opts.get("read_only"):
        print("cmklab classroom: refused: --read-only forbids changes, and every trainee changes their lab",
              file=sys.stderr)
        return 1
    try:
        names = read_roster(args.roster) if args.roster else \
            numbered(args.trainees) if args.trainees is not None else None
        directory = Path(args.dir).expanduser().absolute()
        print(f"cmklab classroom: {directory}", file=sys.stderr)
        room = Classroom.open(directory, args.scenario, names, out=lambda s: print(s, file=sys.stderr, flush=True))
        ssl_context = None
        scheme = "http"
        if args.tls_cert or args.tls_self_signed:
            from . import tls

            if args.tls_self_signed:
                from console.workshop.serve import split_host

                names = [args.host, link_host(args)[0], *(split_host(h)[0] for h in args.allow_host)]
                if args.host.strip() in ("0.0.0.0", "::", ""):
                    names.append(_outward_address())
                cert, key = tls.self_signed(directory, names)  # every name the printed links may use
            else:
                cert, key = Path(args.tls_cert).expanduser(), Path(args.tls_key).expanduser()
            ssl_context = tls.context(cert, key)
            scheme = "https"
            print(f"cmklab classroom: TLS certificate {cert} (SHA-256 {tls.fingerprint(cert)})", file=sys.stderr)
    except ClassroomError as e:
        print(f"cmklab classroom: error: {e.message}", file=sys.stderr)
        return 3 if e.code == "ResourceNotFound" else 2 if e.code == "InvalidClassroom" else 1
    except EngineError as e:
        print(f"cmklab classroom: error: ({e.display_code}) {e.message}", file=sys.stderr)
        return 3 if e.code == "ResourceNotFound" else 1
    host, port = link_host(args)
    base = _url(host, port, scheme)
    lines = [f"cmklab classroom: {room.scenario.name} ({room.scenario.title}), {len(room.trainees)} trainees",
             f"trainer  {base}/trainer/{room.trainer_token}"]
    width = max(len(t.name) for t in room.trainees)
    lines += [f"{t.name:<{width}}  {base}/t/{t.token}" for t in room.trainees]
    _write_private(directory / "links.txt", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines), flush=True)
    if args.links_only:
        return 0
    policy = HostPolicy.make(args.host, args.port, args.allow_host, scheme=scheme)
    if args.host not in ("127.0.0.1", "localhost", "::1") and ssl_context is None:
        print(f"cmklab classroom: warning: {args.host} without TLS: the tokens keep each lab to its trainee, but "
              "anyone who can watch this network can read the links; add --tls-self-signed or --tls-cert/--tls-key",
              file=sys.stderr)
    _setup_log()
    from .server import ClassroomServer

    print(f"cmklab classroom: browsers may open {policy.describe()} (Ctrl+C closes the classroom)",
          file=sys.stderr, flush=True)
    ClassroomServer(room, policy, host=args.host, port=args.port, ssl_context=ssl_context).run()
    print("cmklab classroom: closed; start it again with the same --dir to resume", file=sys.stderr)
    return 0


def _setup_log() -> None:
    """One line on stderr per event (a console opened or closed, a refusal, a trainer action), naming
    the trainee, never a token; aiohttp's access log is off (its lines carry paths)."""
    lines_on_stderr(log, "cmklab classroom")
    logging.getLogger("aiohttp.access").disabled = True


__all__ = ["parser", "run_classroom"]
