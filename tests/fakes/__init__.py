"""Fakes of what lies outside this machine, at the HTTP boundary (see ``providers``)."""

from tests.fakes.providers import (
    FakeProviders,
    RecordedRequest,
    Revocation,
    TokenRequest,
    pkce_pair,
    s256,
    slack_user_id,
)

__all__ = [
    "FakeProviders",
    "RecordedRequest",
    "Revocation",
    "TokenRequest",
    "pkce_pair",
    "s256",
    "slack_user_id",
]
