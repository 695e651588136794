"""Secrets out of messages: the one redaction every component's errors and every log line go through.

Two things are masked as ``***``:

- the password of any URL written in the text (``scheme://user:PASSWORD@host``), known or not;
- every secret value this process has seen in a component's configuration: fields typed as secrets
  (pydantic ``SecretStr``), URL passwords, and options whose names say secret (``password``, ``token``,
  ``secret``, ``api_key``, ``sasl.password``, ...). Component configs register them when they are validated
  (:class:`conduix.components.ComponentConfig`), so an error a client library words with a password in it
  (an exception quoting the URL it was given, say) is masked too.

Logging handlers set up by the CLI, the agent and its workers format through :class:`RedactingFormatter`;
run errors (run results, worker reports, status files) go through :func:`redact`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote, unquote

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["MASK", "RedactingFormatter", "redact", "redact_url", "register_secret", "register_secrets_in",
           "secret_key"]

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked wherever they appear (a password "ab" would mask every "ab" in every
message); URL passwords are masked whatever their length."""

# bounded repetitions: linear time on any message (a long word is not tried as a scheme at every letter)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/?#@\"'<>]{0,256}:)"
                           r"(?P<password>[^\s/?#\"'<>]{0,256})(?=@)")
_SECRET_KEY = re.compile(r"(pass(word|wd|phrase)?|secret|token|api[_\-.]?key|access[_\-.]?key|private[_\-.]?key|"
                         r"credentials?)$", re.IGNORECASE)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def secret_key(name: str) -> bool:
    """Whether an option named ``name`` holds a secret (``password``, ``sasl.password``, ``api_key``, ...)."""
    return bool(_SECRET_KEY.search(name))


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded form) in every message of this process from now on."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    global _pattern
    with _lock:
        forms = {value, quote(value, safe=""), quote(value)} - _secrets
        if forms:
            _secrets.update(forms)
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masking
            _pattern = re.compile("|".join(map(re.escape, ordered)))


def _url_password(value: str) -> None:
    for match in _URL_PASSWORD.finditer(value):
        register_secret(match.group("password"))
        register_secret(unquote(match.group("password")))


def register_secrets_in(value: Any, key: str = "") -> None:
    """Register the secrets found in a configuration value: secret types, URL passwords, and the values of
    options whose names say secret, in nested mappings and lists too."""
    if isinstance(value, (SecretStr, SecretBytes)):
        secret = value.get_secret_value()
        register_secret(secret.decode(errors="replace") if isinstance(secret, bytes) else secret)
    elif isinstance(value, str):
        _url_password(value)
        if key and secret_key(key):
            register_secret(value)
    elif isinstance(value, dict):
        for name, item in value.items():
            register_secrets_in(item, str(name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            register_secrets_in(item, key)
    elif isinstance(value, BaseModel):  # the config itself, or a nested model
        for name in type(value).model_fields:
            register_secrets_in(getattr(value, name, None), name)


def redact(text: str) -> str:
    """``text`` with URL passwords and every registered secret replaced by ``***``."""
    if not text:
        return text
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def redact_url(url: str) -> str:
    """A URL for messages and logs: its password (and any registered secret in it) masked."""
    return redact(url)


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line (message, arguments, traceback) went through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
