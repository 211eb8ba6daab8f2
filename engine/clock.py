"""Time, injected: the engine never reads the wall clock.

:class:`SimulatedClock` holds the current simulated instant. It is persisted with the state and
moves only when asked (``advance``). Every engine operation takes its time from the clock it was
given, as cryptography's Fernet takes ``current_time`` explicitly.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Protocol

UTC = timezone.utc
DEFAULT_START = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
"""Where a new simulated clock starts unless told otherwise (seeded stores always start here)."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class SimulatedClock:
    """A clock that moves only on request."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = _utc(when)

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        self._now = self._now + delta
        return self._now


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def iso(when: datetime | None) -> str | None:
    """Azure's timestamp form: ``2026-05-01T09:00:00+00:00`` (sortable as text)."""
    if when is None:
        return None
    return _utc(when).replace(microsecond=0).isoformat()


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    return _utc(datetime.fromisoformat(t))


YEAR_DAYS = 365
"""A year of a duration (``P1Y``, :func:`parse_duration`)."""
_SHORT = re.compile(r"^\s*(\d+)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)\s*$", re.I | re.A)
_ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$",
                  re.I | re.A)
DURATION_HELP = "a whole number with a unit: 30m, 1h, 8d, 2w (or ISO 8601 like P7D, PT1H)"


def parse_duration(text: str) -> timedelta:
    """``30m``, ``1h``, ``8d``, ``2w`` or ISO 8601 (``P90D``, ``PT1H``, ``P1Y`` = 365 days, ``P1M`` = 30 days).

    Raises ``ValueError`` with a message saying what is allowed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"duration {text!r} is empty; use {DURATION_HELP}")
    if len(text) > 64:
        raise ValueError(f"duration {text[:20]!r}... is not valid; use {DURATION_HELP}")
    if text.strip().startswith("-"):
        raise ValueError(f"duration {text!r} is negative: the clock only moves forward; use {DURATION_HELP}")
    try:
        return _parse_duration(text)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long; use {DURATION_HELP}") from None


def _parse_duration(text: str) -> timedelta:
    m = _SHORT.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()[0]
        return {"s": timedelta(seconds=n), "m": timedelta(minutes=n), "h": timedelta(hours=n),
                "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    m = _ISO.match(text.strip())
    if m and any(m.groups()):
        y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return timedelta(days=YEAR_DAYS * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)
    raise ValueError(f"duration {text!r} is not valid; use {DURATION_HELP}")


MAX_ADVANCE_YEARS = 10
MAX_ADVANCE = timedelta(days=YEAR_DAYS * MAX_ADVANCE_YEARS)
"""The most the simulated clock moves in one step: ten years as a duration counts them (``P10Y``, 3,650 days), the
number the refusal says (:func:`advance_step`)."""


def advance_step(value: timedelta | str) -> timedelta:
    """How far the clock moves for ``value`` (a duration or its text), by the one rule every front end meets (the
    engine's ``advance_clock``, ``cmklab clock advance``, the console's clock form as you type): forward, at most
    :data:`MAX_ADVANCE` at a time. Raises ``ValueError`` saying what is allowed."""
    delta = parse_duration(value) if isinstance(value, str) else value
    if not isinstance(delta, timedelta):
        raise ValueError(f"duration {value!r} is not valid; use {DURATION_HELP}")
    if delta <= timedelta(0):
        raise ValueError(f"the clock only moves forward; got {format_duration(abs(delta)) if delta else '0s'}"
                         + (" backwards" if delta < timedelta(0) else ""))
    if delta > MAX_ADVANCE:
        raise ValueError(f"advance the clock by at most {MAX_ADVANCE_YEARS} years (P{MAX_ADVANCE_YEARS}Y, "
                         f"{MAX_ADVANCE.days} days) at a time; got {format_duration(delta)}")
    return delta


def format_duration(delta: timedelta) -> str:
    """A short human form: ``1d 2h``, ``45m``."""
    secs = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size:
            parts.append(f"{secs // size}{unit}")
            secs %= size
    return " ".join(parts) or "0s"
