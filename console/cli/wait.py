"""``az ... wait``: az's generic wait (``WaitCommandOperation.wait`` in azure-cli core), on the engine's state.

az polls a GET every ``--interval`` seconds until ``--timeout``: ``--exists`` is met by any answer, ``--created`` and
``--updated`` by ``provisioningState`` Succeeded, ``--custom`` by a JMESPath query that is true of the resource,
``--deleted`` by a 404. A 404 otherwise goes on waiting (``--created``, ``--exists``, ``--custom``) or is the
error; giving no condition is ``incorrect usage: ...`` (exit 1). On time-out az *returns* its CLIError rather than
raising it, so it prints ``{}`` and exits 0 (checked against az 2.91). The engine is synchronous, so what this
process did is done when a wait starts: a wait on it returns at once; one on what another process (another
terminal, a console, the endpoint) may still do sees their commits at each poll.

``--custom`` is evaluated on the object az's getter gives: an AAZ resource (disk, snapshot, image, disk encryption
set) in the service's shape, its properties under ``properties`` (az's wait does not flatten them); a VM as ``az
vm get-instance-view`` prints it; a vault and a group as their SDK models print (``properties.*``)."""

from __future__ import annotations

import time
from typing import Any, Callable

from .errors import CLIError
from .spec import Arg, command

GROUP = "Wait Condition Arguments"
CONDITIONS = ("created", "updated", "deleted", "exists", "custom")


def wait_args() -> list[Arg]:
    return [
        Arg(("--created",), "created", "Wait until created with 'provisioningState' at 'Succeeded'.",
            kind="store_true", group=GROUP),
        Arg(("--custom",), "custom", "Wait until the condition satisfies a custom JMESPath query. E.g. "
            "provisioningState!='InProgress', instanceView.statuses[?code=='PowerState/running'].",
            group=GROUP),
        Arg(("--deleted",), "deleted", "Wait until deleted.", kind="store_true", group=GROUP),
        Arg(("--exists",), "exists", "Wait until the resource exists.", kind="store_true", group=GROUP),
        Arg(("--interval",), "interval", "Polling interval in seconds.", kind="int", help_default="30",
            group=GROUP),
        Arg(("--timeout",), "timeout", "Maximum wait in seconds.", kind="int", help_default="3600", group=GROUP),
        Arg(("--updated",), "updated", "Wait until updated with provisioningState at 'Succeeded'.",
            kind="store_true", group=GROUP),
    ]


def _state(instance: Any) -> str | None:
    if not isinstance(instance, dict):
        return None
    state = instance.get("provisioningState")
    if not state and isinstance(instance.get("properties"), dict):
        state = instance["properties"].get("provisioningState")
    return state


def run_wait(ctx, ns, getter: Callable[[Any, Any], Any], *, sleep: Callable[[float], None] = time.sleep) -> Any:
    """One wait: ``getter(engine, ns)`` is the GET (a 404 is an engine error of status 404)."""
    from engine.errors import EngineError

    from .output import apply_query

    if not any(getattr(ns, c, None) for c in CONDITIONS):
        raise CLIError("incorrect usage: --created | --updated | --deleted | --exists | --custom JMESPATH")
    timeout = 3600 if ns.timeout is None else ns.timeout
    interval = 30 if ns.interval is None else ns.interval
    if interval < 1:
        raise CLIError(f"--interval {interval}: give a polling interval of at least 1 second")
    custom = _compiled(ns.custom) if ns.custom else None
    engine = ctx.engine
    for elapsed in range(0, timeout, interval):
        if elapsed:
            sleep(interval)
            engine.refresh_if_changed()  # what another process committed meanwhile
        try:
            instance = getter(engine, ns)
            if ns.exists:
                return None
            state = (_state(instance) or "").lower()
            if state == "failed":
                raise CLIError("The operation failed")
            if ((ns.created or ns.updated) and state == "succeeded") or (
                    custom is not None and bool(apply_query(instance, custom))):
                return None
        except EngineError as err:
            if getattr(err, "status", None) != 404:
                raise
            if ns.deleted:
                return None
            if not (ns.created or ns.exists or ns.custom):
                raise
    return {}  # az returns CLIError('Wait operation timed-out after N seconds'), which prints as {}


def _compiled(text: str):
    """``--custom``'s JMESPath, compiled as ``--query``'s is (az evaluates it at each poll: a bad one fails the
    wait with jmespath's error, exit 1)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from .errors import QUERY_REFERENCE
    from .parser import jmespath_type

    try:
        return jmespath_type(text)
    except ValueError:
        try:
            jmespath.compile(text)
        except JMESPathError as err:
            raise CLIError(f"Invalid jmespath query supplied for `--query`: {err}", [QUERY_REFERENCE]) from None
        raise CLIError(f"Invalid jmespath query supplied for `--query`: {text}", [QUERY_REFERENCE]) from None


def arm_shape(view: dict) -> dict:
    """An AAZ resource as the service returns it (what az's wait evaluates ``--custom`` on)."""
    from console.endpoint.arm import wire

    return wire(view)


def wait_command(path: str, args: list[Arg], getter: Callable[[Any, Any], Any], **kw) -> None:
    """``az <group> wait``: ``args`` are its resource arguments (name, group, extras); ``getter`` the GET."""
    what = kw.pop("what", None)
    command(path, f"Place the CLI in a waiting state until a condition{' of ' + what if what else ''} is met.",
            [*args, *wait_args()], run=lambda ctx, ns: run_wait(ctx, ns, getter),
            long_summary="cmklab's engine is synchronous: what a command did is done when it returns, so a wait on "
                         "it returns at once; a wait on what another process may do polls every --interval seconds "
                         "until --timeout, as az does (on time-out az prints {} and exits 0).", **kw)
