"""One error hierarchy, shaped like Azure's.

Every error carries an Azure-like ``code`` (``ResourceNotFound``, ``Conflict``, ``BadRequest``,
``Forbidden`` ...), an optional ``inner_code`` (``KeyDisabled``, ``KeyVaultAccessForbidden`` ...),
an HTTP-like ``status`` and a message that names the resource and, for bad input, what is allowed.
The CLI prints ``ERROR: (Code) message`` and exits 1; the console shows a notification.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BEHAVIOUR_TOKEN = r"(?:[A-Z]{1,2}\d{1,2}|seed \d{3}(?:'s table)?)"
_BEHAVIOURS = re.compile(rf"\s*\(\s*({_BEHAVIOUR_TOKEN}(?:\s*,\s*{_BEHAVIOUR_TOKEN})*)\s*\)")


def without_behaviours(message: str) -> str:
    """A message as Azure users read it: without the references to the behaviour catalogue (docs/behaviours.md)
    the engine adds in parentheses (``(K5)``, ``(K8, V8)``, ``(seed 001's table)``)."""
    return _BEHAVIOURS.sub("", message)


def behaviours_in(message: str) -> tuple[str, ...]:
    """The catalogue references a message carries, in order (``("K8", "V8")``)."""
    out: list[str] = []
    for group in _BEHAVIOURS.findall(message):
        out.extend(part.strip() for part in group.split(","))
    return tuple(dict.fromkeys(out))
_HUGE_TOKEN = re.compile(r"[^\s,;]{513,}")


def _tidy(message: str) -> str:
    """One printable line: control characters shown escaped (no terminal injection through a name), and a
    value of thousands of characters shortened (a message quotes what was wrong, not all of it)."""
    message = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(message))
    return _HUGE_TOKEN.sub(lambda m: f"{m.group()[:60]}...({len(m.group()):,} characters)...{m.group()[-12:]}",
                           message)


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, inner_code: str | None = None) -> None:
        message = _tidy(message)
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.inner_code = inner_code

    @property
    def behaviour(self) -> tuple[str, ...]:
        """The behaviours (docs/behaviours.md) this refusal rests on, as the message cites them: the console shows
        them on a line of their own ("why"); the az path prints Azure's text without them."""
        return behaviours_in(self.message)

    @property
    def plain_message(self) -> str:
        """The message without its catalogue references (what the az path prints)."""
        return without_behaviours(self.message)

    @property
    def display_code(self) -> str:
        """The most specific code: the inner code when there is one."""
        return self.inner_code or self.code

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.inner_code:
            out["innererror"] = {"code": self.inner_code}
        return out

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class BadRequest(EngineError):
    """Input that breaks a rule: a name, a size, a choice. The message says what is allowed."""

    code = "BadRequest"
    status = 400


class InvalidParameter(BadRequest):
    code = "InvalidParameter"


class NotFound(EngineError):
    code = "ResourceNotFound"
    status = 404


class Conflict(EngineError):
    """The resource exists already, or its state forbids the operation."""

    code = "Conflict"
    status = 409


class OperationNotAllowed(EngineError):
    code = "OperationNotAllowed"
    status = 409


class Forbidden(EngineError):
    """A key or access refusal; ``inner_code`` says which (``KeyDisabled``, ``ForbiddenByPolicy`` ...)."""

    code = "Forbidden"
    status = 403


class QuotaExceeded(EngineError):
    code = "QuotaExceeded"
    status = 409


class CryptoError(EngineError):
    """Opaque failure of a cryptographic check (bad ciphertext, wrong key, tampered data)."""

    code = "BadRequest"
    status = 400


class ReadOnly(EngineError):
    """The store was opened read-only (``--read-only``, a projector view): it refuses every write, so nothing
    can change; queries and what-if previews still work."""

    code = "ReadOnly"
    status = 409


class StoreError(EngineError):
    """The state file cannot be used: corrupt, unreadable, or from a newer schema. It is left untouched."""

    code = "StoreError"
    status = 500
