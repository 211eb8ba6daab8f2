"""Errors as the Azure CLI prints them, and the exit codes it uses.

* usage errors (unknown flag, missing argument, bad choice, bad int): ``ERROR: <argparse text>``, exit 2;
* CLI-side refusals (az's ``CLIError``): ``ERROR: <message>``, exit 1;
* service errors (the engine's :class:`~engine.errors.EngineError`): azure-core's shape
  ``ERROR: (Code) Message`` / ``Code:`` / ``Message:`` / ``Inner error:``, exit 1, or exit 3 when the
  service answered 404 for the resource asked for (az maps ``ResourceNotFoundError`` to 3).
"""

from __future__ import annotations

import json

def az_text(message: str) -> str:
    """A message as az users read (and paste into searches): without the behaviour catalogue's ids the engine
    adds for the console (``(K5)``, ``(K8, V8)``, ``(seed 001's table)``); the engine owns the pattern."""
    from engine.errors import without_behaviours

    return without_behaviours(message)


QUERY_REFERENCE = "To learn more about --query, please visit: 'https://learn.microsoft.com/cli/azure/query-azure-cli'"


class UsageError(Exception):
    """argparse-level error: exit 2."""

    exit_code = 2

    def __init__(self, message: str, extra: list[str] | None = None) -> None:
        from engine.errors import _tidy  # control characters escaped, huge values shortened (as engine errors)

        message = _tidy(message)
        super().__init__(message)
        self.message = message
        self.extra = [_tidy(x) for x in (extra or [])]

    def lines(self) -> list[str]:
        return [az_text(f"ERROR: {self.message}")] + [az_text(x) for x in self.extra]


class CLIError(Exception):
    """A refusal made before the service is called (az's ``CLIError``): exit 1."""

    exit_code = 1

    def __init__(self, message: str, extra: list[str] | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.extra = list(extra or [])
        self.exit_code = exit_code

    def lines(self) -> list[str]:
        return [az_text(f"ERROR: {self.message}")] + [az_text(x) for x in self.extra]


def engine_error_lines(err) -> list[str]:
    """azure-core's ``HttpResponseError`` text for an engine error (one log record: only line 1 is prefixed)."""
    code, message = err.code, az_text(err.message)
    lines = [f"ERROR: ({code}) {message}", f"Code: {code}", f"Message: {message}"]
    if err.inner_code and err.inner_code != code:
        lines += ("Inner error: " + json.dumps({"code": err.inner_code}, indent=4)).splitlines()
    return lines


def engine_exit_code(err) -> int:
    """3 when the service said 404 about the resource itself; 1 for every refusal.

    The compute side reports a key it cannot use (``KeyVaultKeyNotFound``, ``KeyVaultNotFound``) as a
    refusal of the disk or VM operation, not as the disk or VM being missing: exit 1.
    """
    if getattr(err, "status", 500) == 404 and not str(err.code).startswith("KeyVault"):
        return 3
    return 1
