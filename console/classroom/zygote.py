"""The classroom's console fork server: ``python -m console.classroom.zygote FD``.

Starting a console costs about a second of CPU, half of it importing Textual and cmklab. With a room
opening its links at once on two cores, that import, paid 30 times, is most of the wait. This process
pays it once: it imports the console, then, for each console the server asks for, forks. The child
already holds every module (shared with this process, copy-on-write), takes the three pipe ends it
was sent as its stdin, stdout and stderr, its environment (the browser's terminal size), and runs the
console on the trainee's home, exactly as ``python -m console --home HOME console`` would.

The protocol on ``FD`` (a SOCK_SEQPACKET socket the server made): this process sends ``ready`` once
imported; then each request is one JSON message ``{"home", "read_only", "env"}`` carrying three file
descriptors (SCM_RIGHTS), answered with ``{"pid": N}``. It ends when the server's end closes. Children
are reaped by the kernel (SIGCHLD ignored here, restored in each child); the server follows each one
through a pidfd. POSIX only: where fork or pidfds are missing, the server starts consoles as processes
of their own instead.

This module imports the console (Textual) by design: it runs in its own process, never in the server's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback


def _warm() -> None:
    """Import what every console imports before its first screen."""
    import console.app  # noqa: F401
    import console.screens.main  # noqa: F401
    import console.widgets.lab  # noqa: F401
    import console.workshop  # noqa: F401
    from console.session import open_engine  # noqa: F401
    from textual.drivers import web_driver  # noqa: F401


def _child(sock: socket.socket, request: dict, fds: list[int]) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Ctrl+C in the trainer's terminal reaches the whole process group: the server then asks each
        # console to quit (a browser's Ctrl+C arrives on stdin, as a key, not as this signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        from console.app import run_console

        code = run_console(home=request["home"], read_only=bool(request.get("read_only"))) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - the console's stderr is the server's log of it
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def serve(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    _warm()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the consoles
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the server's to handle: it closes this socket
    sock.sendall(b"ready")
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 3)
        except (ConnectionResetError, OSError):
            return 0
        if not data:
            return 0
        try:
            request = json.loads(data)
            if len(fds) != 3:
                raise ValueError(f"3 file descriptors expected, {len(fds)} received")
        except ValueError as e:
            for f in fds:
                os.close(f)
            sock.sendall(json.dumps({"error": str(e)}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            _child(sock, request, fds)
        for f in fds:
            os.close(f)
        sock.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    raise SystemExit(serve(int(sys.argv[1])))
