"""One error family for everything a user can cause or meet: each has a one-line message."""

from __future__ import annotations

import re


class CheckoutError(Exception):
    """Base of errors shown to a user as they are: `title` and a one-line `message`."""

    title = "Error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CheckoutError):
    title = "Bad configuration"
    exit_code = 2


class InvalidInput(CheckoutError):
    title = "Invalid input"
    exit_code = 2


class Unreachable(CheckoutError):
    title = "Server unreachable"
    exit_code = 3


class AccessDenied(Unreachable):
    """The server answered but refused the credentials (or the TLS certificate)."""

    title = "Access denied"


class FaultsDisabled(CheckoutError):
    """The services answering have `faults.enabled` off: they neither apply nor take fault settings."""

    title = "Fault injection disabled"
    exit_code = 1


class OrderNotFound(CheckoutError):
    title = "No such order"
    exit_code = 4


class OrderEnded(CheckoutError):
    """The order has already ended: there is nothing left to stop or undo."""

    title = "Order already ended"
    exit_code = 1


class ServerStartError(CheckoutError):
    title = "Server did not start"
    exit_code = 3


def first_validation_error(error: Exception) -> str:
    """A pydantic ValidationError as one line: `field.path: message`."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return str(error).splitlines()[0]
    first = errors()[0]
    where = ".".join(shown_key(part) for part in first.get("loc", ())) or "input"
    message = " ".join(str(first.get("msg", "invalid value")).split())
    return f"{where}: {message}"


def shown_key(part: object) -> str:
    """A key of the input as it may be printed: a hostile one (newlines, 10 kB long) quoted and cut short."""
    text = str(part)
    return text if re.fullmatch(r"[A-Za-z0-9_]{1,40}", text) else repr(text[:40])
