"""The cmklab console: a Textual app on the engine facade.

``run_console()`` opens the engine on a home directory (the demo landscape when the store is new,
unless ``--empty``), runs the app and returns an exit code. ``CmkApp`` owns the engine, the command
log and the workers:

* every engine action runs in a thread worker (``execute``) and posts ``ActionDone`` or
  ``ActionFailed``; the UI thread only redraws. Slow work (key generation, re-wrapping a set's disks)
  shows a progress indicator and never freezes the screen;
* engine events (``Engine.subscribe``) arrive as ``EngineEvent`` messages, from any thread;
* a poller notices commits by other processes (``cmklab az`` in another terminal) within a second.

Errors become notifications titled with the engine's error code, never tracebacks.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from engine._light import dataclass, field
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from engine.errors import EngineError, ReadOnly
from engine.events import Event
from engine.ids import KEY_URL_IN_TEXT

from .cli import replay
from .commands import ConsoleCommands
from .messages import ActionDone, ActionFailed, ActionStarted, EngineEvent, ExternalChange, KeyHandled
from .screens.main import MainScreen, release_heap, settle_heap
from .cli.spec import Call
from .rows import LogEntry, short_kid, shorten

POLL_SECONDS = 0.5
LOUD_SHOWN = 6
"""Events from another terminal a notification names, its warnings and errors first (then how many more)."""
OWN_SHOWN = 8
"""Lines of what an action of this console did that its notification shows (then how many more)."""
MAX_TOASTS = 3
"""Notifications shown at once (the newest): a burst of them no longer piles up over the screen; what an older one
said is in the events pane or the command log."""
TOAST_WIDTH = 60
"""Textual's width of a toast (its ``max-width`` is half the screen)."""
TOAST_CHROME = 7
"""Rows of the screen a toast's text cannot have: the header and the pane tabs above it, the footer below (the
rack's margin), its own margin and padding."""
MAX_TOASTS_OVER_DIALOG = 1
"""Over a dialog (shown at its top, clear of its buttons) only the newest: the dialog is what the user reads."""
SWITCH_INTERVAL = 0.001
BUSY_DELAY = 0.3
"""Quick actions finish before the progress indicator would flash."""
KEY_TURN_LIMIT = 1.0
"""Keys held behind a key being handled (:meth:`CmkApp._route_key`) whose end never came (the widget it went to went
away first) are handled after this many seconds."""
FLOW_KEYS = "flow"
"""The token kind of keys held while an action opens its dialog (:meth:`CmkApp.hold_keys`). They are held until the
action releases them (its dialog has the focus, or it ends: ``MainScreen._flow`` always does), however long its
what-if takes: held for a limited time, the keys typed while a slow what-if ran (a disable of a key serving many
disks on a big store) went to the table under the dialog, moving its cursor and acting on its rows."""
NOT_HELD = frozenset({"ctrl+q"})
"""Keys never held: quitting works even while an action's dialog is awaited."""


def _named(lines: list[str], limit: int, fits=None, head: str = "") -> str:
    """A notification's text: ``head`` (if any), at most ``limit`` lines, then how many more (every one is an
    event); fewer when the text would not ``fits`` (a callable on the text: the toast's rows on this screen),
    at least one."""
    for n in range(min(limit, len(lines)), 0, -1):
        more = f"\n… and {len(lines) - n:,} more: the events pane has them all" if len(lines) > n else ""
        text = (head + "\n" if head else "") + "\n".join(lines[:n]) + more
        if fits is None or n == 1 or fits(text):
            return text
    return head


def _summarised(events: list, fits=None) -> str:
    """What another process committed, said as a whole: how many events of each kind (in the order they came),
    then the first ones named, the warnings and errors first, and how many more (:func:`_named`)."""
    counts: dict[str, int] = {}
    for ev in events:
        kind = getattr(ev, "type", None) or getattr(ev, "kind", "Event")
        counts[kind] = counts.get(kind, 0) + 1
    loud = [ev for ev in events if ev.severity in ("warning", "error")]
    ordered = loud + [ev for ev in events if ev.severity not in ("warning", "error")]
    if len(events) == 1:
        return _named([shorten(ev.summary) for ev in ordered], LOUD_SHOWN, fits)
    head = f"{len(events):,} changes: " + ", ".join(f"{n:,} {kind}" for kind, n in counts.items())
    return _named([shorten(ev.summary) for ev in ordered], LOUD_SHOWN, fits, head)


def _store_label(engine) -> str:
    path = engine.store_path
    if not path:
        return "(in memory)"
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


READ_ONLY_TITLE = "READ-ONLY"
"""The title of every refusal a read-only console says, the header's marker word."""

EXTERNAL_LABEL = "another client"
"""The label of a command log entry that records another client's request (the endpoint's), not an action
of this console."""
TERMINAL_LABEL = "another terminal"
"""The label of a command log entry that records a ``cmklab`` command another process ran on the home (its journal
lines' origin is ``cli``: console/cli/runner.py)."""


def _short_url(request: str) -> str:
    """``PUT https://management.azure.com/subscriptions/<id>/resourceGroups/rg/...`` as the log shows it:
    without the scheme, and ARM's without the host and the (one) subscription."""
    method, _, url = request.partition(" ")
    url = url.removeprefix("https://")
    if url.startswith("management.azure.com/subscriptions/"):
        rest = url[len("management.azure.com/subscriptions/"):]
        url = "…" + rest[rest.index("/"):] if "/" in rest else url
    return f"{method} {url}"


@dataclass
class ExternalRequest:
    """One request of an endpoint client, gathered from the journal lines it wrote (they share the note
    ``Engine.acting_as`` gave them): the engine calls it made (``calls``: number -> [call note, ok, error
    code]) and the audited operations that were no call of it (``audits``: [operation, kid, result])."""

    first: str
    time: str
    origin: dict
    ok: bool = True
    code: str | None = None
    calls: dict = field(default_factory=dict)
    audits: list = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        """A ``cmklab`` command run in another terminal (not a request to the endpoint)."""
        return self.origin.get("via") == "cli"

    @property
    def who(self) -> str:
        if self.terminal:
            return TERMINAL_LABEL
        return str(self.origin.get("name") or self.origin.get("principal") or "unknown")

    @property
    def source(self) -> str:
        """How the log names where it came from: ``endpoint app1``, ``another terminal``."""
        return self.who if self.terminal else f"endpoint {self.who}"

    @property
    def request(self) -> str:
        if self.terminal:
            return str(self.origin.get("request", ""))  # the command's words, never its values
        return _short_url(str(self.origin.get("request", "")))


def external_requests(events: list, audit: list) -> list[ExternalRequest]:
    """The requests of the endpoint's clients among journal lines another process committed, in the order
    they were written. A request is not ok when a line of it is a refusal (an audit entry refused, an event
    ``...Refused``: a VM start the keys refused); a call is not ok when one of its own lines is."""
    found: dict[str, ExternalRequest] = {}
    notes = [(a, a.__dict__.get("origin"), a.result if a.result != "OK" else None, a) for a in audit]
    notes += [(e, (e.data or {}).get("origin"), e.type if e.type.endswith("Refused") else None, None)
              for e in events]
    for line, origin, refused, entry in sorted(notes, key=lambda n: n[0].id):
        if not isinstance(origin, dict) or origin.get("via") not in ("endpoint", "cli"):
            continue
        req = found.get(str(origin.get("seq")))
        if req is None:
            req = found[str(origin.get("seq"))] = ExternalRequest(line.id, line.time, origin)
        if refused and req.ok:
            req.ok, req.code = False, refused
        call = origin.get("call")
        if isinstance(call, dict) and call.get("action"):
            noted = req.calls.setdefault(str(call.get("n")), [call, True, None])
            if refused and noted[1]:
                noted[1], noted[2] = False, refused
        elif entry is not None:
            req.audits.append((entry.operation, entry.kid, entry.result))
    return sorted(found.values(), key=lambda r: r.first)


AUDIT_WORDS = {"KeyWrap": "wrapKey", "KeyUnwrap": "unwrapKey", "KeyEncrypt": "encrypt", "KeyDecrypt": "decrypt",
               "KeySign": "sign", "KeyVerify": "verify", "KeyGet": "get", "KeyList": "list",
               "KeyRotationPolicyGet": "getRotationPolicy"}
"""An audited operation (no state change) in Key Vault's words, as the command log says it."""


def _audit_words(operation: str, kid: str | None, result: str) -> str:
    """``unwrapKey kv/key/version``: the operation as Key Vault names it, the key as vault/name/version."""
    what = kid or ""
    m = KEY_URL_IN_TEXT.fullmatch(what.strip().rstrip("/"))
    if m:
        what = "/".join(x for x in (m.group("vault"), m.group("name"), m.group("version")) if x)
    return f"{AUDIT_WORDS.get(operation, operation)} {what}".rstrip() + ("" if result == "OK" else f" ({result})")


PROP_UPDATES = {"create_disk": "update_disk", "update_disk": "update_disk", "create_vm": "update_vm",
                "update_vm": "update_vm"}
"""Actions whose plain properties (``props``) ``cmklab az`` sets through the update command's flags."""


def _prop_flags(method: str) -> dict:
    """``{REST path: Prop}``: the flags of the update command that set a plain property."""
    if method == "update_disk":
        from .cli.commands.compute import DISK_UPDATE_PROPS as props
    else:
        from .cli.commands.vm import VM_UPDATE_PROPS as props
    return {p.path: p for p in props}


def _leaves(obj: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in obj.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_leaves(v, path))
        else:
            out[path] = v
    return out


def _flag_words(prop, value) -> list | None:
    """A plain property's value as its flag says it (None: the flag cannot say it)."""
    if value is None or isinstance(value, dict):
        return None
    if prop.kind == "flag3":
        return [prop.options[0], "true" if value else "false"] if isinstance(value, bool) else None
    if prop.kind == "list":
        return [prop.options[0], *map(str, value)] if isinstance(value, list) else None
    if isinstance(value, (list, bool)):
        return None
    return [prop.options[0], str(value)]


def call_lines(engine, note: dict) -> list[str]:
    """The ``cmklab az`` line(s) of one engine call an endpoint client made (its note: engine/actions.py),
    runnable as the console's own commands are; what cmklab az cannot say is a comment: a call with a
    value the note left out (key material is never recorded), or a plain property no flag sets."""
    import json
    import shlex

    method = str(note.get("action"))
    args = dict(note.get("args") or {})
    if note.get("omitted"):
        return [f"# {method}: not replayable ({', '.join(note['omitted'])} not recorded)"]
    if "props" in args and not args["props"]:
        args.pop("props")  # no plain property given (the parser's empty set): the same as none
    props = args.pop("props", None) if method in PROP_UPDATES else None
    tags = args.pop("tags", None) if method == "update_disk" else None
    lines = replay.az_lines(engine, method, (), args)
    if not lines or lines[-1].startswith("#"):
        return lines
    extra: list = []
    unsaid: list[str] = []
    if tags is not None:
        extra += ["--set", f"tags={json.dumps(tags, separators=(',', ':'))}"]
    if props:
        update = PROP_UPDATES[method]
        flags = _prop_flags(update)
        for path, value in _leaves(props).items():
            said = _flag_words(flags[path], value) if path in flags else None
            if said is None:
                unsaid.append(path)
            else:
                extra += said
    if extra:
        words = " ".join(shlex.quote(str(x)) for x in extra)
        if method.startswith("update_"):
            lines[-1] = f"{lines[-1]} {words}"
        else:
            base = replay.az_lines(engine, PROP_UPDATES[method], (), {"name": args.get("name"),
                                                                      "resource_group": args.get("resource_group")})
            lines.append(f"{base[0]} {words}" if base and not base[0].startswith("#") else
                         f"# {method}: plain properties {words}")
    if unsaid:
        lines.append(f"# not said in cmklab az words: plain properties {', '.join(sorted(unsaid))} "
                     "(stored through the endpoint)")
    return lines


@dataclass
class ExternalEntry(LogEntry):
    """A request of an endpoint client in the command log: ``lines`` say what it did (its engine calls in
    ``cmklab az`` words, its audited key operations), then its method and URL; ``script`` is what the exported
    replay script writes for it."""

    script: list[str] = field(default_factory=list)


def external_entry(engine, req: ExternalRequest, seq: int) -> ExternalEntry:
    """The command log entry of ``req``: ``endpoint app1: az disk update --resource-group rg --name d ...``,
    then ``PATCH …/disks/d``.

    The replay script runs a request's calls as the console's own commands: they are real changes that
    happened on this home, in this order among the console's, and a trainer replaying the session needs
    them for what follows (a VM the SDK made is the one the console then deallocates). Each is headed by a
    comment naming the client and the request; a refused call is a comment as a refused command is; an
    audited key operation (wrap, unwrap, sign ..., a key read) changed no state and is a comment."""
    src = req.source
    label = TERMINAL_LABEL if req.terminal else EXTERNAL_LABEL
    head = f"# {src}: {req.request}" + ("" if req.ok else f" (refused: {req.code})")
    lines: list[str] = []
    script = [head]
    for _, (note, ok, code) in sorted(req.calls.items(), key=lambda c: int(c[0]) if c[0].isdigit() else 0):
        said = call_lines(engine, note)
        for line in said:
            shown = line[len("cmklab "):] if line.startswith("cmklab ") else line.lstrip("# ")
            lines.append(f"{src}: {shown}" + ("" if ok else f" (refused: {code})"))
            script.append(line if ok or line.startswith("#") else f"# refused ({code}): {line}")
    for operation, kid, result in req.audits:
        words = _audit_words(operation, kid, result)
        lines.append(f"{src}: {words}")
        script.append(f"# {src}: {words} (audited; no state change)")
    if not lines:
        return ExternalEntry(seq, req.time, label, [f"{src}  {req.request}"], req.ok, req.code, script=[head])
    # an endpoint's request ends with its method and URL; a terminal's command is its calls' words already
    return ExternalEntry(seq, req.time, label, lines if req.terminal else lines + [req.request], req.ok, req.code,
                         script=script)


class CmkApp(App):
    """The console."""

    CSS_PATH = "app.tcss"
    TITLE = "cmklab"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [Binding("q", "quit", "quit", priority=False)]
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, engine, *, read_only: bool = False, store_label: str | None = None,
                 poll: bool = True, frozen: bool = False, lab_name: str | None = None) -> None:
        super().__init__()
        self.frozen = frozen
        """Snapshot mode: no animation, no blinking cursor (byte-identical screens)."""
        if frozen:
            self.animation_level = "none"
        self.engine = engine
        """The engine facade: every action and query goes through it."""
        if read_only:
            engine.set_read_only()  # a projector view: the store refuses every write from now on
        self.store_label = store_label or _store_label(engine)
        self.lab_name = lab_name
        """The lab's name, shown instead of the store's path when the console is served to a browser
        (``cmklab serve``, ``cmklab classroom``: the path is the server's, not the trainee's business)."""
        self.command_log: list[LogEntry] = []
        """Each action as its ``cmklab az`` command line(s), in order."""
        self._poll_enabled = poll
        self._stop = threading.Event()
        self._capture: dict[int, list[Event]] = {}
        self._pending: dict[int, str] = {}
        self._seq = 0
        self._log_seq = 0
        self._new_in: dict[int, tuple[str, set]] = {}
        self._calls: dict[int, Call] = {}
        self._outcomes: dict[int, asyncio.Future] = {}
        """What ``execute`` returned for each action running: settled once it is done and said."""
        self.reads: dict[str, str] = {}
        """VM name -> what the last read from its disks returned (the detail panel shows it)."""
        self._unsubscribe = None
        self._journal: int | None = None
        """Where this console has read the event log to (``Engine.journal_cursor``): a poll reads only what
        other processes appended after it, never the log's history."""
        self._journal_lock = threading.Lock()
        self._external_events: list[Event] = []
        self._external_log: list[ExternalRequest] = []
        """Requests other clients made (the endpoint's), read from the journal, waiting for the command log."""
        self._followed: dict[str, set[str]] | str = {}
        """What other processes changed since the UI thread last looked (``Engine.followed``, merged)."""
        """Events other processes committed, waiting for the UI thread to say them."""
        self.first_poll = threading.Event()
        """Set once the watcher has found where the journal ends and checked the store for the first time."""
        self._load_log()
        self._held: list[events.Key] | None = None
        """Keys received while an earlier one is being handled or a dialog is coming (:meth:`hold_keys`), in order;
        None when no key waits."""
        self._waits: dict[tuple, float] = {}
        """What the keys held wait for (a key being handled, an action's dialog: :meth:`hold_keys`), and until when."""
        self._wait_watch = None
        self._key_turn = 0
        self.lab = None
        """The workshop being played in this home (``cmklab scenario run NAME``): the Lab pane shows it."""
        try:
            from .workshop import open_lab

            self.lab = open_lab(engine)  # the progress saved in the engine's store; read-only as the store is
        except Exception:  # noqa: BLE001 - a broken lab's progress must not stop the console
            self.lab = None

    def reopen_lab(self):
        """The lab the home's store holds now (another terminal started another scenario in this home), which
        becomes this console's; None when there is none or it cannot be read."""
        try:
            from .workshop import open_lab

            self.lab = open_lab(self.engine)
        except Exception:  # noqa: BLE001 - a broken lab's progress must not stop the console
            self.lab = None
        return self.lab

    @property
    def projector(self) -> bool:
        """A read-only console served to a browser (``cmklab serve --read-only``, the trainer's view of a trainee in
        ``cmklab classroom``): the projector view, whose viewer has no terminal to reopen it from."""
        return self.read_only and self.lab_name is not None

    def read_only_refusal(self, what: str) -> str:
        """Why ``what`` (an action, the import) does nothing here: the view is read-only, said the way the
        viewer can act on it."""
        if self.projector:
            return f"{what}: this is the projector view, which is READ-ONLY: it shows the lab and changes nothing."
        return (f"{what}: this console is READ-ONLY (opened with --read-only), so nothing can change. "
                "Quit and run cmklab without --read-only to act.")

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """A notification, plain text unless ``markup``: what the console says carries names, the engine's
        messages, paths and what the user typed (a ``[`` in them was read as markup). Screens and dialogs call
        ``self.app.notify`` (``Widget.notify`` asks for markup)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _toast_fits(self, title: str):
        """Whether a notification's text with ``title`` is drawn whole on this screen: a toast is at most half the
        screen wide (Textual's ``max-width: 50%``, less its padding and edge) and grows with its text; one taller
        than the screen lost its top, the title and the first lines with it (80x24: eight events of a key disabled
        on 5,000 disks, three rows each). The header and the pane tabs stay in sight."""
        from rich.text import Text

        width = max(min(TOAST_WIDTH, self.size.width // 2) - 4, 10)
        rows = self.size.height - TOAST_CHROME

        def fits(text: str) -> bool:
            lines = ([title] if title else []) + text.split("\n")
            return sum(max(len(Text(line).wrap(self.console, width)), 1) for line in lines) <= rows

        return fits

    def _refresh_notifications(self) -> None:
        """Textual's: show the notifications on the current screen; here only the newest :data:`MAX_TOASTS`
        (:data:`MAX_TOASTS_OVER_DIALOG` over a dialog, whose stylesheet puts them at the top, away from its
        buttons). Textual calls this for a new notification, one that expires, and a screen that comes up."""
        try:
            over_dialog = self.screen.has_class("dialog-screen")
        except Exception:  # noqa: BLE001 - no screen yet
            over_dialog = False
        keep = MAX_TOASTS_OVER_DIALOG if over_dialog else MAX_TOASTS
        shown = list(self._notifications)
        for old in shown[:max(len(shown) - keep, 0)]:
            del self._notifications[old]
        super()._refresh_notifications()

    @property
    def read_only(self) -> bool:
        """Every action is refused: the store was opened read-only (``--read-only``); the store says so."""
        return self.engine.read_only

    # ---- keys, in the order they were typed ----------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Textual's, with keys handled one at a time in the order they came (:meth:`_route_key`): a key received
        while an earlier one is still being handled, or while an action opens its dialog, waits, in order."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._held is not None and event.key not in NOT_HELD:
                self._held.append(event)
                return
            await self._route_key(event)
            return
        await super().on_event(event)

    async def _route_key(self, event: events.Key) -> None:
        """Hand ``event`` on as Textual does (a priority binding acts now; otherwise it goes to the focused widget,
        whose parents, then the app's bindings, get it in turn), then hold the next keys until it has been
        handled. Textual picks a key's widget as the app receives it but runs the bindings once the key has
        bubbled up: a key typed right after another reached the widget of before (`2/`: the `/` opened the filter
        before the `2` was acted on, which then met the prompt and was lost; `n` then letters: the letters moved
        the table before the form was up). :class:`KeyHandled` follows the key the same way and says it is done."""
        target = self.focused or self.screen
        await super().on_event(event)
        if event.is_forwarded:  # no priority binding took it: it travels up from ``target``
            self._key_turn += 1
            token = ("key", self._key_turn)
            if target.post_message(KeyHandled(token)):
                self.hold_keys(token, KEY_TURN_LIMIT)

    def hold_keys(self, token: tuple, limit: float | None) -> None:
        """Keys received from now on wait, in order, until :meth:`release_keys` (``token``), or ``limit`` seconds
        (a widget that went away with its message: a key's turn is never awaited for good). ``limit`` None: until
        released, by a caller that always releases (an action opening its dialog, :meth:`hold_keys_for_dialog`)."""
        self._waits[token] = time.monotonic() + limit if limit is not None else float("inf")
        if self._held is None:
            self._held = []
        if self._wait_watch is None:
            self._wait_watch = self.set_interval(KEY_TURN_LIMIT / 4, self._expire_waits)

    def _expire_waits(self) -> None:
        now = time.monotonic()
        for token in [t for t, until in self._waits.items() if until <= now]:
            self.release_keys(token)
        if not self._waits and self._wait_watch is not None:
            self._wait_watch.stop()
            self._wait_watch = None

    def release_keys(self, token: tuple | None = None) -> None:
        """What ``token`` waited for has happened (None: every action's dialog, :data:`FLOW_KEYS`): once nothing
        else is waited for, the keys held are handled, in order, in the app's turn."""
        for t in [t for t in self._waits if t == token or token is None and t[0] == FLOW_KEYS]:
            del self._waits[t]
        if not self._waits and self._held is not None:
            self.call_later(self._release_held)

    def hold_keys_for_dialog(self) -> None:
        """An action is opening its dialog (a form, a confirmation) in a worker: the keys typed meanwhile are for
        the dialog, not for the table under it (`n` then a name typed at once moved the table's cursor, toggled
        its panels, even started other actions). The dialog releases them once it has its focus
        (:meth:`release_keys`), the action if it opens none; however long its what-if takes (:data:`FLOW_KEYS`),
        the main screen meanwhile saying that the engine is being asked."""
        self._key_turn += 1
        self.hold_keys((FLOW_KEYS, self._key_turn), None)

    @on(KeyHandled)
    def _key_handled(self, message: KeyHandled) -> None:
        message.stop()
        self.release_keys(message.token)

    async def _release_held(self) -> None:
        if self._waits or self._held is None:
            return
        held, self._held = self._held, None
        while held:
            await self._route_key(held.pop(0))
            if self._held is not None:  # it is being handled: the rest wait behind it
                self._held[:0] = held
                return

    # ---- lifecycle -------------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Threads (the watcher, a big pane's listing) hand the interpreter back to the UI thread within 1 ms
        # instead of 5: a key press waits at most that long for a thread doing Python work.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        settle_heap()
        self._unsubscribe = self.engine.subscribe(self._engine_callback)
        self.push_screen(MainScreen())
        if self._poll_enabled:
            self._poll()

    def on_unmount(self) -> None:
        release_heap()  # what settle_heap froze can be collected again once the console is done with it
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()

    @property
    def main(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # ---- engine events (any thread) --------------------------------------------------------------

    def _engine_callback(self, event: Event) -> None:
        captured = self._capture.get(threading.get_ident())
        if captured is not None:
            captured.append(event)
        self.post_message(EngineEvent(event))

    @on(EngineEvent)
    def _engine_event(self, message: EngineEvent) -> None:
        # rows are refreshed once the action is done (ActionDone); nothing to redraw per event
        pass

    def _skip_own_events(self) -> None:
        """After this console's own action: its events are said by ActionDone, not as another process's."""
        try:
            cursor = self.engine.journal_cursor()
        except Exception:  # noqa: BLE001
            return
        with self._journal_lock:
            if self._journal is not None:
                self._journal = max(self._journal, cursor)

    # ---- other processes ---------------------------------------------------------------------------

    def _watch_once(self) -> None:
        """One look at the store, in the watcher's thread: catch up with what other processes committed
        (only the documents they changed), read the events they appended since the last look, and tell the
        UI thread. Nothing here reads the journal's history."""
        with self._journal_lock:
            if self._journal is None:
                self._journal = self.engine.journal_cursor()
        from .screens.main import quiet_gc

        with quiet_gc():  # catching up can read whole tables again (after another process compacted)
            if not self.engine.refresh_if_changed():
                return
        with self._journal_lock:
            events, audit, self._journal = self.engine.journal_since(self._journal)
            self._external_events.extend(events)
            self._external_log.extend(external_requests(events, audit))
            followed = self.engine.followed
            if followed == "reset" or self._followed == "reset":
                self._followed = "reset"
            else:
                for table, keys in followed.items():  # type: ignore[union-attr]
                    self._followed.setdefault(table, set()).update(keys)  # type: ignore[union-attr]
        self.post_message(ExternalChange())

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False, description="watch the store")
    def _poll(self) -> None:
        try:
            self._watch_once()
        except Exception:  # noqa: BLE001 - a store being rewritten; try again next tick
            pass
        self.first_poll.set()
        while not self._stop.wait(POLL_SECONDS):
            try:
                self._watch_once()
            except Exception:  # noqa: BLE001
                continue

    @on(ExternalChange)
    def _external(self, message: ExternalChange) -> None:
        with self._journal_lock:
            new, self._external_events = self._external_events, []
            changed, self._followed = self._followed, {}
            requests, self._external_log = self._external_log, []
        for req in requests:
            self._log_seq += 1
            try:
                entry = external_entry(self.engine, req, self._log_seq)
            except Exception:  # noqa: BLE001 - the log never stops the console: the request as it came
                entry = ExternalEntry(self._log_seq, req.time, EXTERNAL_LABEL, [f"endpoint {req.who}  {req.request}"],
                                      req.ok, req.code, script=[f"# endpoint {req.who}: {req.request}"])
            self.command_log.append(entry)
        if requests:
            self._save_log()
        if new:
            loud = [ev for ev in new if ev.severity in ("warning", "error")]
            title = "Changed in another terminal"
            self.notify(_summarised(new, self._toast_fits(title)), title=title,
                        severity="error" if any(ev.severity == "error" for ev in loud) else
                        "warning" if loud else "information", timeout=8 if loud or len(new) > 1 else 4)
        if self.main is not None:
            self.main.refresh_data(changed=changed if isinstance(changed, dict) else None)

    # ---- executing actions -------------------------------------------------------------------------

    def execute(self, call: Call, label: str, *, slow: bool = False, new_in: str | None = None) -> asyncio.Future:
        """Run ``call`` (and its follow-ups) in a thread worker; the result arrives as a message.

        ``slow``: show the progress indicator at once (else only if the action lasts). ``new_in``: a
        pane whose cursor goes to the row the action creates. On a read-only store (``--read-only``) the engine
        refuses an action before it does anything (the store's ReadOnly error, notified as any refusal).

        Returns the outcome, once the action is done and said: None, or the refusal as a form shows it
        (``(Code) message``); a form that waits for it stays open when the engine refuses."""
        self._seq += 1
        seq = self._seq
        outcome = self._outcomes[seq] = asyncio.get_running_loop().create_future()
        self._pending[seq] = label
        self._calls[seq] = call
        if new_in is not None and self.main is not None:
            self._new_in[seq] = (new_in, self.main.row_keys(new_in))
        if slow:
            self._show_busy()
        else:
            self.set_timer(BUSY_DELAY, self._show_busy)
        self._run_call(call, label, seq)
        return outcome

    def _settle_outcome(self, seq: int, refusal: str | None) -> None:
        outcome = self._outcomes.pop(seq, None)
        if outcome is not None and not outcome.done():
            outcome.set_result(refusal)

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False, description="engine action")
    def _run_call(self, call: Call, label: str, seq: int) -> None:
        self.post_message(ActionStarted(label, seq))
        captured: list[Event] = []
        self._capture[threading.get_ident()] = captured
        log: list = []
        current: Call | None = call
        result: Any = None
        try:
            while current is not None:
                lines = replay.az_lines(self.engine, current.method, current.args, current.kwargs, current.hints)
                try:
                    result = getattr(self.engine, current.method)(*current.args, **current.kwargs)
                except EngineError as err:
                    log.append((lines, False, err.display_code))
                    raise
                log.append((lines, True, None))
                current = current.then(result) if current.then else None
            self.post_message(ActionDone(label, call.method, result, seq, list(captured), log))
        except Exception as err:  # noqa: BLE001 - every failure becomes a notification
            self.post_message(ActionFailed(label, call.method, err, seq, log))
        finally:
            self._capture.pop(threading.get_ident(), None)
            self._skip_own_events()

    def _show_busy(self) -> None:
        main = self.main
        if main is None:
            return
        if self._pending:
            main.show_busy(next(reversed(self._pending.values())))
        else:
            main.show_busy(None)

    def _finish(self, seq: int, label: str, log: list) -> None:
        self._pending.pop(seq, None)
        now = self.engine.now()
        for lines, ok, code in log:
            self._log_seq += 1
            self.command_log.append(LogEntry(self._log_seq, now, label, lines, ok, code))
        if log:
            self._save_log()
        self._show_busy()
        main = self.main
        if main is not None:
            main.refresh_data()

    @on(ActionStarted)
    def _started(self, message: ActionStarted) -> None:
        pass

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        self._finish(message.seq, message.label, message.log)
        new_in = self._new_in.pop(message.seq, None)
        if new_in is not None and self.main is not None:
            self.main.select_new(*new_in)
        call = self._calls.pop(message.seq, None)
        if message.method == "vm_read":
            data = bytes(message.result or b"")
            text = data.rstrip(b"\x00").decode("utf-8", "replace")
            said = f"{len(data)} bytes: {text!r}" if text else f"{len(data)} bytes, all zero"
            if call is not None:
                vm, lun, offset = call.args[:3]
                self.reads[str(vm).lower()] = f"disk {lun}, offset {offset}, at {self.engine.now()[:16]}: {said}"
                if self.main is not None:
                    self.main.update_side(force=True)
            self.notify(said, title=message.label, timeout=10)
            self._settle_outcome(message.seq, None)
            return
        # every cascade the notification names is an event (the events pane keeps it)
        loud = [ev for ev in message.events if ev.severity in ("warning", "error")]
        lines = [self._event_line(ev) for ev in (loud or message.events)]
        for ev in message.events:
            lines.extend(self._event_notes(ev))
        if not lines:
            lines = ["done: " + " ; ".join(line for lines, ok, _ in message.log for line in lines)]
        if message.method == "vm_write":
            lines = [f"wrote {message.result} bytes (encrypted at rest with the disk's data key)"]
        text = _named(lines, OWN_SHOWN, self._toast_fits(message.label))
        if loud:
            severity = "error" if any(ev.severity == "error" for ev in loud) else "warning"
            self.notify(text, title=message.label, severity=severity, timeout=10)
        else:
            self.notify(text, title=message.label, timeout=5 if len(lines) < 3 else 8)
        self._settle_outcome(message.seq, None)

    def _event_line(self, ev: Event) -> str:
        """An event as the notification says it, now that the whole action is done."""
        if ev.kind == "DiskEncryptionSetCreated":
            des = self.engine.find_des(ev.des)
            if des is not None and self.engine.des_identity_ready(des) is None:
                # the engine's summary (written at creation) asks for a grant the action has since made
                return f"disk encryption set {des.name} created on key {short_kid(des.key_url)}; its identity can use it"
        return shorten(ev.summary)

    def _event_notes(self, ev: Event) -> list[str]:
        """What a rotation means for the sets on the key: they keep the old version unless they rotate automatically."""
        if ev.kind != "KeyRotated":
            return []
        from engine.ids import parse_key_url

        new = parse_key_url(ev.kid)
        on_key = []
        for des in sorted(self.engine.list_des(), key=lambda d: d.name):
            ref = parse_key_url(des.key_url)
            if (ref.vault.lower(), ref.name.lower()) == (new.vault.lower(), new.name.lower()) and \
                    ref.version != new.version:
                on_key.append((des, ref))
        following = {des.id.lower() for des, _ref in on_key if des.rotation_to_latest}
        # the jobs of those sets alone (not every key and set of the home: a scan of each set's resources)
        jobs = dict((j, t) for t, j in self.engine.jobs_of(set(), following, set())) if following else {}
        out = []
        for des, ref in on_key:
            if des.rotation_to_latest:
                when = next((t for j, t in jobs.items() if j.startswith(f"automatic rotation of set {des.name} ")), None)
                out.append(f"set {des.name} moves to the new version by automatic rotation"
                           + (f" at {when[:16].replace('T', ' ')}" if when else ""))
            else:
                out.append(f"set {des.name} still uses version {(ref.version or '')[:8]} (automatic rotation is off):"
                           " change its key to use the new one")
        return out

    @on(ActionFailed)
    def _failed(self, message: ActionFailed) -> None:
        self._new_in.pop(message.seq, None)
        self._calls.pop(message.seq, None)
        self._finish(message.seq, message.label, message.log)
        if isinstance(message.error, ReadOnly):  # said as every read-only refusal is (the store's names its path)
            said = self.read_only_refusal(message.label)
            self.notify(said, title=READ_ONLY_TITLE, severity="error", timeout=10)
            self._settle_outcome(message.seq, f"({READ_ONLY_TITLE}) {said}")
            return
        lesson = None
        if self.lab is not None and isinstance(message.error, EngineError):
            try:
                lesson = self.lab.expected_refusal([ln for lines, _ok, _code in message.log for ln in lines])
            except Exception:  # noqa: BLE001 - the lab's view of a refusal never hides the refusal
                lesson = None
        if lesson is not None:
            self.notify("Refused, as this step of the lab expects: " + shorten(message.text),
                        title=f"{message.title}: part of the lesson", severity="information", timeout=10)
        else:
            why = message.why
            self.notify(shorten(message.text) + (f"\n{why}" if why else ""), title=message.title, severity="error",
                        timeout=10)
        self._settle_outcome(message.seq, f"({message.title}) {message.text}")

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group not in ("poll",):
            err = event.worker.error
            self.notify(str(err) or type(err).__name__, title=type(err).__name__, severity="error", timeout=10)

    # ---- the command log ---------------------------------------------------------------------------------

    LOG_NOTE = "console-log"

    def _load_log(self) -> None:
        """The command log of earlier sessions on this home (kept with its state)."""
        home = self.engine.home
        if home is None:
            return
        from store.notes import read_note

        doc = read_note(home, self.LOG_NOTE)
        for item in doc.get("entries", []) if isinstance(doc, dict) else []:
            try:
                entry = LogEntry(int(item["seq"]), str(item["time"]), str(item["label"]),
                                 [str(x) for x in item["lines"]], bool(item["ok"]), item.get("error"))
                if isinstance(item.get("script"), list):
                    entry = ExternalEntry(entry.seq, entry.time, entry.label, entry.lines, entry.ok, entry.error,
                                          script=[str(x) for x in item["script"]])
            except (KeyError, TypeError, ValueError):
                continue
            self.command_log.append(entry)
            self._log_seq = max(self._log_seq, entry.seq)

    def _save_log(self) -> None:
        home = self.engine.home
        if home is None or self.read_only:
            return
        from store.notes import write_note

        # another client's requests are kept with what the replay script writes for them (a later export
        # replays them too)
        doc = {"entries": [{"seq": e.seq, "time": e.time, "label": e.label, "lines": e.lines, "ok": e.ok,
                            "error": e.error} | ({"script": e.script} if isinstance(e, ExternalEntry) else {})
                           for e in self.command_log]}
        try:
            write_note(home, self.LOG_NOTE, doc)
        except OSError as exc:
            self.notify(f"the command log could not be saved: {exc.strerror or exc}", title="LogNotSaved",
                        severity="warning")

    def export_log(self, path: str) -> None:
        # another client's requests: their calls as runnable lines, the rest as comments (external_entry)
        entries = [(True, e.script, None) if isinstance(e, ExternalEntry) else
                   (True, [f"# {ln}" for ln in e.lines], None) if e.label == EXTERNAL_LABEL else (e.ok, e.lines, e.error)
                   for e in self.command_log]
        where = f"lab: {self.lab_name}" if self.lab_name else f"store: {self.store_label}"
        header = f"{where}\nsimulated clock at export: {self.engine.now()}"
        from .confine import shown_path, user_path

        try:
            target = Path(user_path(path))
        except ValueError as exc:
            self.notify(str(exc), title="ExportRefused", severity="error")
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(replay.script(entries, header=header, replay=self._replay_lines(target)))
            target.chmod(0o755)
        except OSError as exc:
            self.notify(f"cannot write {shown_path(path)}: {exc.strerror or exc}", title="ExportFailed", severity="error")
            return
        ok = sum(1 for e in self.command_log if e.ok)
        self.notify(f"{ok} command(s) written to {shown_path(path)}", title="Command log exported")

    def _replay_lines(self, target: Path) -> list[str]:
        """How to replay an exported session: a new home holding the landscape this session started
        from (the scenario being played, else the demo with this store's seed), then the script."""
        import shlex

        from engine.rules import DEFAULT_PROFILE

        seed = getattr(self.engine.meta, "seed", None)
        profile = self.engine.rules.name
        lines = ["export CMKLAB_HOME=$(mktemp -d)"]
        lab = self.lab
        if lab is not None:
            sc = lab.scenario
            flags = (f" --seed {seed}" if seed is not None and seed != sc.seed else "") + \
                (f" --profile {profile}" if sc.profile is None and profile != DEFAULT_PROFILE else "")
            lines.append(f"cmklab{flags} scenario run {shlex.quote(sc.path or sc.name)} --no-console")
        else:
            flags = (f" --seed {seed}" if seed is not None else "") + \
                (f" --profile {profile}" if profile != DEFAULT_PROFILE else "")
            lines.append(f"cmklab{flags} demo    # if the session started from the demo landscape")
        lines.append(f"bash {shlex.quote(str(target.absolute()))}")
        return lines

    # ---- import (cmklab import, from the palette) ------------------------------------------------------

    def open_import(self, initial: str = "") -> None:
        """The "Import ..." dialog: paths of az JSON files, merge, partial; it runs in a worker with progress."""
        if self.read_only:
            self.notify(self.read_only_refusal("Import"), title=READ_ONLY_TITLE, severity="error")
            return
        from .modals.importer import ImportModal

        self.push_screen(ImportModal(initial))

    def record_import(self, line: str, ok: bool, error: str | None, report) -> None:
        """An import ended (in the dialog): the command log keeps its command line, the panes redraw, and a
        notification says what was modelled."""
        self._log_seq += 1
        code = error.split(")", 1)[0].lstrip("(") if error else None
        self.command_log.append(LogEntry(self._log_seq, self.engine.now(), "Import a twin", [line], ok, code))
        self._save_log()
        if ok:
            self._skip_own_events()  # its events are this console's, not another process's
            if self.main is not None:
                self.main.refresh_data()
            counts = report.modelled() if report else ""
            self.notify(shorten(f"modelled: {counts or 'nothing'}"), title="Imported a twin", timeout=8)

    def copy_log(self, entry: LogEntry) -> None:
        text = "\n".join(entry.lines)
        self.copy_to_clipboard(text)
        self.notify(text if len(text) < 200 else text[:197] + "…", title="Copied to the clipboard")


def make_app(engine=None, *, seed: int | None = 1, demo: bool = True, read_only: bool = False,
             store_label: str | None = None, poll: bool = False, frozen: bool = True) -> CmkApp:
    """An app on an in-memory engine (tests, screenshots): seeded, the demo landscape, a frozen clock."""
    if engine is None:
        from engine import Engine

        engine = Engine.in_memory(seed=seed)
        if demo:
            from engine.demo import build_demo

            build_demo(engine)
    return CmkApp(engine, read_only=read_only, store_label=store_label or "~/.local/share/cmklab/state.json",
                  poll=poll, frozen=frozen)


def run_console(home: str | None = None, seed: int | None = None, profile: str | None = None, empty: bool = False,
                read_only: bool = False, **_: Any) -> int:
    """``cmklab`` with no verb: open the engine on ``home`` and run the console until ``q``."""
    import sys

    from .session import open_engine

    try:
        engine = open_engine(home, seed=seed, profile=profile, demo=not empty, read_only=read_only)
    except EngineError as err:
        print(f"cmklab: error: ({err.display_code}) {err.message}", file=sys.stderr)
        return 1
    from .confine import lab_name

    app = CmkApp(engine, read_only=read_only, lab_name=lab_name())
    try:
        app.run()
    finally:
        try:
            engine.close()
        except Exception:  # noqa: BLE001
            pass
    return app.return_code or 0


__all__ = ["READ_ONLY_TITLE", "CmkApp", "make_app", "run_console"]
