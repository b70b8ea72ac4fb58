"""What goes into an audit row's ``extra``: references stay readable, secrets never get in."""

from __future__ import annotations

from audit.services import sanitize
from vmcp_platform import tokens


def test_values_under_sensitive_keys_are_redacted_at_any_depth():
    assert sanitize(
        {
            "api_key": "k",
            "headers": {"Authorization": "Bearer abc", "Accept": "json"},
            "nested": [{"client_secret": "s", "password": "p", "ok": 1}],
            "access_token": "t",
        }
    ) == {
        "api_key": "[REDACTED]",
        "headers": {"Authorization": "[REDACTED]", "Accept": "json"},
        "nested": [{"client_secret": "[REDACTED]", "password": "[REDACTED]", "ok": 1}],
        "access_token": "[REDACTED]",
    }


def test_keys_that_only_reference_a_secret_stay_readable():
    assert sanitize(
        {"api_key_id": 7, "session_token_id": "b3c1", "secret_name": "client_secret"}
    ) == {"api_key_id": 7, "session_token_id": "b3c1", "secret_name": "client_secret"}


def test_a_token_shaped_value_is_redacted_even_under_an_innocent_key():
    key = tokens.generate(tokens.API_KEY_PREFIX)
    cleaned = sanitize({"note": f"pasted {key} by mistake", "api_key_id": key})
    assert key not in str(cleaned)
