"""Textual messages of the console: engine events adapted for the UI, and worker results.

Engine callbacks (``Engine.subscribe``) may run on worker threads; they only ``post_message`` these,
which is thread-safe. The handlers run on the UI thread.
"""

from __future__ import annotations

from engine._light import dataclass, field
from typing import Any

from textual.message import Message

from engine.errors import EngineError
from engine.events import Event

LogLines = list[tuple[list[str], bool, "str | None"]]
"""Command log entries of one action: (az lines, succeeded, error code)."""


@dataclass
class EngineEvent(Message):
    """One engine event, published after its action committed (any thread)."""

    event: Event


@dataclass
class ExternalChange(Message):
    """Another process (``cmklab az`` in another terminal) committed to the store; the engine reloaded."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExternalChange)


@dataclass
class ActionStarted(Message):
    """A worker started an engine action (the progress indicator appears if it takes a while)."""

    label: str
    seq: int


@dataclass
class ActionDone(Message):
    """An engine action finished: what it returned, the events it published, its command log lines."""

    label: str
    method: str
    result: Any
    seq: int
    events: list[Event] = field(default_factory=list)
    log: LogLines = field(default_factory=list)


@dataclass
class ActionFailed(Message):
    """The engine refused an action (an ``EngineError``) or it failed unexpectedly (any other exception)."""

    label: str
    method: str
    error: BaseException
    seq: int
    log: LogLines = field(default_factory=list)

    @property
    def title(self) -> str:
        if isinstance(self.error, EngineError):
            return self.error.display_code
        return type(self.error).__name__

    @property
    def text(self) -> str:
        if isinstance(self.error, EngineError):
            return self.error.plain_message
        return str(self.error) or type(self.error).__name__

    @property
    def why(self) -> str | None:
        """The behaviours the refusal rests on, for a line of their own: ``why: K5, V6 (docs/behaviours.md)``."""
        if isinstance(self.error, EngineError) and self.error.behaviour:
            return f"why: {', '.join(self.error.behaviour)} (docs/behaviours.md)"
        return None


class KeyHandled(Message):
    """Sent after a key to the widget the key went to: it bubbles up behind the key, the same way, and says, once it
    reaches the app, that the key has been handled (:meth:`console.app.CmkApp._route_key`)."""

    def __init__(self, token) -> None:
        super().__init__()
        self.token = token
