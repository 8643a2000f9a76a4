"""Credentials for the webhook and the API: bearer token and/or HTTP basic auth, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from receiver.config import WebhookSettings
from receiver.settings_base import read_secret_file


@dataclass
class Credentials:
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None

    def replace_with(self, other: Credentials) -> None:
        """Take `other`'s values (a configuration reload; the app holds this one object)."""
        self.bearer_token, self.username, self.password = other.bearer_token, other.username, other.password

    @property
    def required(self) -> bool:
        return self.bearer_token is not None or self.username is not None

    def challenges(self) -> list[str]:
        """The `WWW-Authenticate` challenges of a 401: one per kind of credential configured, basic auth
        first (a browser asks for a login; it knows no Bearer)."""
        schemes = ["Basic"] * (self.username is not None) + ["Bearer"] * (self.bearer_token is not None)
        return [f'{scheme} realm="alert-analyst"' for scheme in schemes]

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(bearer={'set' if self.bearer_token else 'unset'}, basic_user={self.username!r})"


def load_credentials(settings: WebhookSettings) -> Credentials:
    token = settings.bearer_token.get_secret_value() if settings.bearer_token else None
    if settings.bearer_token_file:
        token = read_secret_file(settings.bearer_token_file)
    username = password = None
    if settings.basic_auth:
        username = settings.basic_auth.username
        if settings.basic_auth.password is not None:
            password = settings.basic_auth.password.get_secret_value()
        elif settings.basic_auth.password_file:
            password = read_secret_file(settings.basic_auth.password_file)
    return Credentials(token, username, password)


def _same(given: str, expected: str) -> bool:
    # surrogateescape: a header with bytes that are not UTF-8 reaches here as lone surrogates
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def is_authorized(header: str | None, creds: Credentials) -> bool:
    """True when no credentials are configured, or the Authorization header matches one of them."""
    if not creds.required:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and creds.bearer_token is not None:
        return _same(value.strip(), creds.bearer_token)
    if scheme == "basic" and creds.username is not None and creds.password is not None:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, ValueError):  # ValueError: not ASCII; UnicodeDecodeError is one
            return False
        user, sep, password = decoded.partition(":")
        return bool(sep) and _same(user, creds.username) & _same(password, creds.password)
    return False
