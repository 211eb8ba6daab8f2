"""Running one CLI call: words -> command -> parsed flags -> one facade call -> output.

The store is opened once, lazily (``--help`` and usage errors never open it). ``--read-only`` opens it
read-only: the engine's transaction asks the store, which refuses every command that changes state
(:class:`engine.errors.ReadOnly`, exit 1) before anything is done; the runner checks nothing itself. ``what-if`` parses the
wrapped command exactly as it would run and hands its :class:`~console.cli.spec.Call` to
:meth:`engine.Engine.what_if`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from . import parser as P
from .errors import CLIError, UsageError, az_text, engine_error_lines, engine_exit_code
from .output import apply_query, format_result

CONFIRM_PROMPT = "Are you sure you want to perform this operation? (y/n): "
WHAT_IF_NAMES = 20
"""Names a line of a what-if shows as text before it says how many more (``-o json`` gives them all)."""


def quiet_stdout() -> None:
    """Point stdout at the null device: the reader of a pipe has gone (no BrokenPipeError at exit)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class Context:
    """One CLI invocation: options, streams and the engine (opened on first use)."""

    def __init__(self, *, home=None, seed: int | None = None, profile: str | None = None,
                 read_only: bool = False, engine=None) -> None:
        self.home = home
        self.seed = seed
        self.profile = profile
        self.read_only = bool(read_only)
        self._engine = engine
        self.quiet = False
        self.pipe_closed = False

    @property
    def engine(self):
        if self._engine is None:
            from console.session import open_engine

            self._engine = open_engine(self.home, seed=self.seed, profile=self.profile, read_only=self.read_only)
        return self._engine

    # ---- streams --------------------------------------------------------------------------------------

    def out(self, text: str) -> None:
        if text and not self.pipe_closed:
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
            except BrokenPipeError:  # `cmklab az ... | head -1`: the reader has gone; finish quietly
                self.pipe_closed = True
                quiet_stdout()

    def err(self, line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def warn(self, message: str) -> None:
        if not self.quiet:
            lines = az_text(message).splitlines() or [""]
            self.err("WARNING: " + lines[0])
            for extra in lines[1:]:
                self.err(extra)


def main(argv: list[str], ctx: Context) -> int:
    try:
        return _main(argv, ctx)
    except (UsageError, CLIError) as e:
        for line in e.lines():
            ctx.err(line)
        return e.exit_code
    except KeyboardInterrupt:
        ctx.err("ERROR: Operation cancelled.")
        return 1
    except Exception as e:  # engine errors carry their Azure code
        from engine.errors import EngineError

        if isinstance(e, EngineError):
            for line in engine_error_lines(e):
                ctx.err(line)
            return engine_exit_code(e)
        raise


def _main(argv: list[str], ctx: Context) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        from .help import group_help

        ctx.out(group_help("cmklab"))
        return 0
    head = argv[0].lower()
    if head == "az":
        return run_words("az", argv[1:], ctx)
    if head == "what-if":
        return what_if(argv[1:], ctx)
    return run_words("cmklab", argv, ctx)


def changes_state(cmd) -> bool:
    """Whether ``cmd`` changes state: its facade method's ``@action`` says so (the engine's one answer)."""
    if cmd.method is None:
        return False
    from engine.facade import changes_state as method_changes_state

    return method_changes_state(cmd.method)


def _lookup(root: str, tokens: list[str], ctx: Context) -> P.Resolved | None:
    res = P.resolve(root, tokens)
    if res.command is None:
        from .help import group_help

        if res.rest and not P.wants_help(res.rest):
            raise UsageError(f"unrecognized arguments: {' '.join(res.rest)}")
        ctx.out(group_help(res.path))
        return None
    if P.wants_help(res.rest):
        from .help import command_help

        ctx.out(command_help(res.command))
        return None
    return res


def _parse(root: str, tokens: list[str], ctx: Context):
    """The command and its parsed, validated arguments; None when help was printed instead."""
    res = _lookup(root, tokens, ctx)
    if res is None:
        return None
    cmd = res.command
    ns = P.parse_args(cmd, res.rest)
    ctx.quiet = bool(ns.only_show_errors)
    if cmd.validate is not None:
        cmd.validate(ns)
    return cmd, ns


def run_words(root: str, tokens: list[str], ctx: Context) -> int:
    parsed = _parse(root, tokens, ctx)
    if parsed is None:
        return 0
    cmd, ns = parsed
    if cmd.confirm and not getattr(ns, "yes", False) and not ctx.engine.read_only:
        _confirm(ctx)  # (a store opened read-only refuses the command: there is nothing to confirm)
    if cmd.warning:
        ctx.warn(cmd.warning)
    _check_subscription(ns, ctx)
    with _noted(cmd, ctx):
        if ns.id_targets is None:
            result = _run_one(cmd, ns, ctx)
            if getattr(ns, "no_wait", False):
                result = None  # az returns no poller result with --no-wait: nothing is printed
        else:  # --ids: the command runs for each id; several ids print a list (as az does)
            result = _run_each(cmd, ns, ctx)
            if result is _FAILED:
                return 1
    if getattr(ns, "max_items", None) is not None and isinstance(result, list):
        result = page(result, ns, ctx)
    emit(ctx, result, ns, cmd.table)
    return 0


CLI_ORIGIN = "cli"
"""``origin["via"]`` of the journal lines a ``cmklab`` command writes (the endpoint's are ``endpoint``)."""


@contextlib.contextmanager
def _noted(cmd, ctx: Context):
    """A command that changes state runs with its origin noted (``Engine.acting_as``): every journal line it writes
    says it came from a ``cmklab`` command, and which engine call wrote it, so that a console open on the same home
    says it in its command log and replays it. The origin names the command's words, never its values (a password
    given as a flag); the call note leaves secrets out (engine/actions.py)."""
    if not changes_state(cmd) or ctx.engine.read_only:
        yield
        return
    import uuid

    origin = {"via": CLI_ORIGIN, "request": cmd.path if cmd.words[0] == "cmklab" else f"cmklab {cmd.path}",
              "seq": uuid.uuid4().hex, "pid": os.getpid()}
    with ctx.engine.acting_as(None, origin):
        yield


_FAILED = object()
"""``--ids``: every id failed, each said in a warning (az's invoker returns exit 1 and prints no error line)."""


def _run_each(cmd, ns, ctx: Context) -> Any:
    """``--ids``: the command runs for every id, as az's invoker runs one job per id (core/commands/__init__.py):
    each failure is a warning naming the id (``WARNING: <id>: "<error>"``) and the others still run; the command
    fails only when every id failed (one failure: its own error and exit code; several: their warnings and exit 1,
    no error line). Each job's result is kept, an action's None (or ``--no-wait``'s) too: one result prints as
    itself, several as their list (``[null, null]`` for two deletes), as az's invoker does."""
    from engine.errors import EngineError

    results, failures = [], []
    for target in ns.id_targets:
        rid = target.pop("id")
        try:
            _check_subscription(argparse.Namespace(subscription=target.pop("subscription")), ctx)
            for dest, value in target.items():
                setattr(ns, dest, value)
            result = _run_one(cmd, ns, ctx)
            results.append(None if getattr(ns, "no_wait", False) else result)
        except (EngineError, CLIError, UsageError) as err:
            failures.append((err, rid))
    if len(failures) == 1 and not results:
        raise failures[0][0]
    if failures:
        for err, rid in failures:
            ctx.warn(f'{rid}: "{_error_text(err)}"')
        if not results:
            return _FAILED
        ctx.warn("Encountered more than one exception.")
    return results[0] if len(results) == 1 else results


def _error_text(err) -> str:
    """An error as ``str()`` of az's exception gives it: azure-core's lines for a service error, the message
    otherwise."""
    from engine.errors import EngineError

    if isinstance(err, EngineError):
        lines = engine_error_lines(err)
        return "\n".join([lines[0].removeprefix("ERROR: ")] + lines[1:])
    return az_text(err.message)


def next_token(offset: int) -> str:
    """az's pagination token (AAZ): base64 of ``{"next_link": ..., "offset": N}``."""
    import base64
    import json

    return base64.b64encode(json.dumps({"next_link": None, "offset": offset}).encode()).decode()


def page(items: list, ns, ctx: Context) -> list:
    """``--max-items N [--next-token T]``: N items from T's offset; when more remain, az's warning names the token
    of the next page (``Token of next page: ...``) on stderr."""
    import base64
    import binascii
    import json

    limit, offset = ns.max_items, 0
    if limit < 1:
        raise UsageError(f"argument --max-items: {limit} is not a positive number of items")
    if ns.next_token:
        try:
            offset = int(json.loads(base64.b64decode(ns.next_token, validate=True))["offset"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise UsageError(f"argument --next-token: '{ns.next_token}' is not a token a previous page gave "
                             "(Token of next page: ...)") from None
        if offset < 0:
            raise UsageError(f"argument --next-token: '{ns.next_token}' names a negative offset")
    chunk = items[offset:offset + limit]
    if offset + limit < len(items):
        ctx.warn(f"Token of next page: {next_token(offset + limit)}")
    return chunk


def _run_one(cmd, ns, ctx: Context) -> Any:
    """One run of a command on the resource its arguments name."""
    from engine.errors import NotFound

    engine = ctx.engine
    try:
        if cmd.run is not None:
            return cmd.run(ctx, ns)
        call = cmd.call(ns, ctx)
        if cmd.probe is not None and not _exists(engine, cmd.probe, call):
            if getattr(ns, "resource_group", None):
                engine.get_group(ns.resource_group)  # a group that is not there: ResourceGroupNotFound
            return None  # ARM deletes what is not there with 204: nothing to print, exit 0
        value = getattr(engine, call.method)(*call.args, **call.kwargs)
        return cmd.render(engine, value, ns) if cmd.render is not None else None
    except NotFound as err:
        _group_must_exist(engine, ns, err)
        raise


def _exists(engine, probe: str, call) -> bool:
    from engine.errors import NotFound

    try:
        getattr(engine, probe)(*call.args)
    except NotFound as err:
        if err.code != "ResourceNotFound":
            raise
        return False
    return True


def _group_must_exist(engine, ns, err) -> None:
    """ARM answers ``ResourceGroupNotFound`` for a resource asked for in a group that does not exist."""
    group = getattr(ns, "resource_group", None)
    if group and err.code == "ResourceNotFound":
        engine.get_group(group)  # raises ResourceGroupNotFound when the group is missing


def emit(ctx: Context, result: Any, ns, table=None) -> None:
    if ns.query is not None and result is not None:
        result = apply_query(result, ns.query)
    ctx.out(format_result(result, ns.output, query_active=ns.query_active, table=table))


def _confirm(ctx: Context) -> None:
    if not sys.stdin.isatty():
        ctx.warn("Unable to prompt for confirmation as no tty available. Use --yes.")
        raise CLIError("Operation cancelled.")
    sys.stderr.write(CONFIRM_PROMPT)
    sys.stderr.flush()
    answer = sys.stdin.readline(256).strip().lower()  # a bounded read: y, yes, n, no
    if answer not in ("y", "yes"):
        raise CLIError("Operation cancelled.")


def _check_subscription(ns, ctx: Context) -> None:
    sub = getattr(ns, "subscription", None)
    if not sub:
        return
    meta = ctx.engine.meta
    if sub.lower() not in (meta.subscription_id.lower(), meta.subscription_name.lower()):
        raise CLIError(f"The subscription of '{sub}' doesn't exist in cloud 'AzureCloud'.")


# ---- what-if ----------------------------------------------------------------------------------------------

WHAT_IF_HELP = """
Command
    cmklab what-if : Preview what a command that changes state would do, without doing it.
    The command is parsed exactly as it would run (same words, flags and errors) and run as a dry
    run: nothing is written. Prints the blast radius: VMs that would stop, data that would become
    unreadable or be lost for good, data keys re-wrapped, resources created, deleted or modified.

Arguments
    COMMAND [Required] : An az command (`az keyvault key set-attributes ...`) or a cmklab command
                         (`clock advance 8d`). Give `-o json` to it for the preview as JSON.

Examples
    What disabling a key would stop.
        cmklab what-if az keyvault key set-attributes --vault-name kv1 -n key1 --enabled false

    What a purge would destroy.
        cmklab what-if az keyvault key purge --vault-name kv1 -n key1

"""


def what_if(tokens: list[str], ctx: Context) -> int:
    if tokens and tokens[0] in ("-h", "--help"):
        ctx.out(WHAT_IF_HELP)
        return 0
    if not tokens:  # its one argument is required: as az, a usage error (exit 2), not help and success
        raise UsageError("the following arguments are required: COMMAND (e.g. cmklab what-if az keyvault key "
                         "set-attributes --vault-name kv1 -n key1 --enabled false; cmklab what-if --help)")
    root, rest = ("az", tokens[1:]) if tokens[0].lower() == "az" else ("cmklab", tokens)
    parsed = _parse(root, rest, ctx)
    if parsed is None:
        return 0
    cmd, ns = parsed
    from engine.facade import previewable

    if not changes_state(cmd):
        raise CLIError(f"what-if previews commands that change state; '{cmd.path}' changes nothing: run it as is")
    if not previewable(cmd.method):
        raise CLIError(f"'{cmd.path}' writes data through a VM; what-if previews control-plane commands")
    _check_subscription(ns, ctx)
    impacts = []
    for target in ns.id_targets or [None]:  # --ids: a preview for each resource
        if target is not None:
            target = dict(target)
            target.pop("id")
            _check_subscription(argparse.Namespace(subscription=target.pop("subscription")), ctx)
            for dest, value in target.items():
                setattr(ns, dest, value)
        call = cmd.call(ns, ctx)
        if not previewable(call.method):
            raise CLIError(f"'{cmd.path}' cannot be previewed")
        impacts.append(ctx.engine.what_if(call.method, *call.args, **call.kwargs))
    if ns.output_given or ns.query_active:
        from engine.views import impact_view

        views = [impact_view(impact) for impact in impacts]
        emit(ctx, views[0] if len(views) == 1 else views, ns)
    else:
        text = []
        for impact in impacts:
            lines = impact.lines(WHAT_IF_NAMES)
            text.append(f"what-if: {cmd.path}\n" + "".join(line + "\n" for line in lines))
            if lines != impact.lines():
                text.append(f"(at most {WHAT_IF_NAMES} names a line: -o json lists every one)\n")
        ctx.out("".join(text))
    return 0
