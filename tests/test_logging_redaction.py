"""No token, key or credential survives a log line; ordinary text and token kinds do."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmcp_platform.logging import RedactingFilter, redact

SESSION_TOKEN = "vmcp_st_Qx7uT2c9-ZkPw_4hR1mN"
API_KEY = "vmcp_sk_9fK2LmPq8sVd3xZa"
GOOGLE_TOKEN = "ya29.a0AfH6SMBx-ab_CD12efGH"
SLACK_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
GITHUB_TOKEN = "ghp_1a2B3c4D5e6F7g8H9i0JkLmN"
CLIENT_SECRET = "GOCSPX-s3cr3tValue"
SECRET_PARTS = (
    "Qx7uT2c9",
    "9fK2LmPq",
    "a0AfH6SMBx",
    "1234567890",
    "AbCdEfGh",
    "1a2B3c4D",
    "s3cr3tValue",
    "hunter2",
    "dXNlcjpwYXNz",
    "opaque-bearer-value",
    "pkce-verifier-xyz",
)


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _assert_no_secret(output: str) -> None:
    leaked = [part for part in SECRET_PARTS if part in output]
    assert leaked == []


def test_tokens_in_percent_args_are_redacted_keeping_their_kind(log) -> None:
    logger, stream = log

    logger.info("minted %s and %s for %s", SESSION_TOKEN, API_KEY, "alice")

    assert stream.getvalue() == (
        "INFO minted vmcp_st_[REDACTED] and vmcp_sk_[REDACTED] for alice\n"
    )


def test_provider_tokens_are_redacted_keeping_their_prefix(log) -> None:
    logger, stream = log

    logger.warning("google %s slack %s github %s", GOOGLE_TOKEN, SLACK_TOKEN, GITHUB_TOKEN)

    assert stream.getvalue() == (
        "WARNING google ya29.[REDACTED] slack xoxb-[REDACTED] github ghp_[REDACTED]\n"
    )


def test_oauth_response_body_in_args_is_redacted(log) -> None:
    logger, stream = log
    body = (
        '{"access_token": "opaque-bearer-value", "refresh_token": "1//0hunter2", '
        '"token_type": "Bearer", "expires_in": 3599}'
    )

    logger.debug("token endpoint answered %s", body)

    assert stream.getvalue() == (
        'DEBUG token endpoint answered {"access_token": "[REDACTED]", '
        '"refresh_token": "[REDACTED]", "token_type": "Bearer", "expires_in": 3599}\n'
    )


def test_exception_text_from_logger_exception_is_redacted(log) -> None:
    logger, stream = log

    try:
        raise RuntimeError(f"refused Authorization: Bearer {SESSION_TOKEN[8:]} ({API_KEY})")
    except RuntimeError:
        logger.exception("call failed for %s", SESSION_TOKEN)

    output = stream.getvalue()
    _assert_no_secret(output)
    assert output.startswith("ERROR call failed for vmcp_st_[REDACTED]\nTraceback")
    assert output.endswith(
        "RuntimeError: refused Authorization: Bearer [REDACTED] (vmcp_sk_[REDACTED])\n"
    )


def test_exception_record_is_redacted_for_every_handler_and_formatter(log) -> None:
    logger, first = log
    second = io.StringIO()
    plain = logging.StreamHandler(second)  # no filter of its own, default formatter
    logger.addHandler(plain)

    try:
        raise ValueError(f"bad client_secret={CLIENT_SECRET}")
    except ValueError:
        logger.exception("oauth exchange failed")
    logger.removeHandler(plain)

    for output in (first.getvalue(), second.getvalue()):
        _assert_no_secret(output)
        assert "ValueError: bad client_secret=[REDACTED]\n" in output


@given(
    prefix=st.sampled_from(
        [
            "vmcp_st_",
            "vmcp_sk_",
            "vmcp_ck_",
            "vmcp_ms_",
            "ya29.",
            "xoxb-",
            "xoxp-",
            "ghp_",
            "gho_",
            "ghu_",
            "ghs_",
            "ghr_",
            "github_pat_",
        ]
    ),
    secret=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1
    ),
)
def test_any_prefixed_token_is_redacted_keeping_its_prefix(prefix: str, secret: str) -> None:
    assert redact(f"sent {prefix}{secret} upstream") == f"sent {prefix}[REDACTED] upstream"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer opaque-bearer-value", "Authorization: Bearer [REDACTED]"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED]"),
        ("sent bearer opaque-bearer-value upstream", "sent bearer [REDACTED] upstream"),
        ("{'Authorization': 'Bearer opaque-bearer-value'}", "{'Authorization': '[REDACTED]'}"),
        (
            "grant_type=refresh_token&refresh_token=1//0hunter2&client_secret=GOCSPX-s3cr3tValue",
            "grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]",
        ),
        ("code_verifier=pkce-verifier-xyz&code=abc", "code_verifier=[REDACTED]&code=abc"),
        ('{"api_key": "hunter2", "name": "prod"}', '{"api_key": "[REDACTED]", "name": "prod"}'),
        ("X-Api-Key: hunter2", "X-Api-Key: [REDACTED]"),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '[REDACTED]', 'user': 'bob'}"),
        ('"password": "he said \\"hunter2\\""', '"password": "[REDACTED]"'),
        ('{\\"access_token\\": \\"hunter2\\"}', '{\\"access_token\\": \\"[REDACTED]\\"}'),
        (f"access_token={SESSION_TOKEN}", "access_token=vmcp_st_[REDACTED]"),
        (f'"token": "{SLACK_TOKEN}"', '"token": "xoxb-[REDACTED]"'),
        ("github_pat_11ABCDEFG_0123456789abcdef", "github_pat_[REDACTED]"),
        ("ghs_1a2B3c4D5e and gho_1a2B3c4D5e.", "ghs_[REDACTED] and gho_[REDACTED]."),
        (
            "xoxp-1-2-3 xoxa-1-2 xoxr-9 xoxs-8 xoxo-7",
            "xoxp-[REDACTED] xoxa-[REDACTED] xoxr-[REDACTED] xoxs-[REDACTED] xoxo-[REDACTED]",
        ),
        (
            "vmcp_ck_abc vmcp_ms_def vmcp_zz_ghi",
            "vmcp_ck_[REDACTED] vmcp_ms_[REDACTED] vmcp_zz_[REDACTED]",
        ),
        ("postgres://vmcp:hunter2@db:5432/vmcp", "postgres://vmcp:[REDACTED]@db:5432/vmcp"),
        ("id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "id_token eyJ[REDACTED]"),
    ],
)
def test_credentials_in_headers_forms_and_json_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "tools/call gmail.send_email by alice@acme.example took 312 ms",
        'config "Sales team" now maps 4 tools; token_type=Bearer; max_tokens=512',
        "passwordless login enabled for tenant acme; Basic plan",
        "VMCP_DB_HOST=localhost VMCP_MASTER_KEYS is set",
        "GET https://gmail.googleapis.com/gmail/v1/users/me/messages?q=is:unread 200",
        "",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_ordinary_log_line_is_unchanged(log) -> None:
    logger, stream = log

    logger.info("tenant %s has %d configs (%.1f%% active)", "acme", 3, 66.7)

    assert stream.getvalue() == "INFO tenant acme has 3 configs (66.7% active)\n"


def test_string_extras_are_redacted(log) -> None:
    logger, _ = log
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(capture)  # after the filtered handler, which rewrites the shared record

    logger.info("audit", extra={"header": f"Bearer {GOOGLE_TOKEN}", "count": 2})
    logger.removeHandler(capture)

    assert records[0].header == "Bearer [REDACTED]"
    assert records[0].count == 2


def test_filter_never_raises_and_always_keeps_the_record() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    record = logging.makeLogRecord({"msg": Unprintable(), "args": None})

    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "[log message withheld: redaction failed]"


def test_mismatched_args_still_log_redacted(log) -> None:
    logger, stream = log

    logger.info("token %s %s", SESSION_TOKEN)

    assert stream.getvalue() == ("INFO token %s %s (unformattable args: ('vmcp_st_[REDACTED]',))\n")
