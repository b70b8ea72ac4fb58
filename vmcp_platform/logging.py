"""Log redaction: no token, key or credential reaches a log line.

``RedactingFilter`` goes on every handler (or logger); ``redact`` is reused wherever text may carry
a secret (error messages, audit ``extra`` values). Known token prefixes are kept so an operator can
still tell which kind of credential was involved: ``vmcp_st_[REDACTED]``, ``ghp_[REDACTED]``.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"

# Tokens recognisable by prefix. The prefix is kept; only the secret part is replaced.
_PREFIXED_TOKEN = (
    r"(?<![A-Za-z0-9])(?P<prefix>"
    r"vmcp_[a-z]{2}_"  # platform tokens: vmcp_st_ session, vmcp_sk_ api key, ...
    r"|ya29\."  # Google OAuth access tokens
    r"|xox[abposr]-|xapp-"  # Slack
    r"|gh[pousr]_|github_pat_"  # GitHub
    r"|eyJ(?=[A-Za-z0-9_-]*\.eyJ)"  # JWTs (id tokens): header.payload.signature
    r")(?P<token>[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)"
)
_KEY_WORDS = (
    r"authorization|cookie|password|passwd|secret|token|code[_-]?verifier"
    r"|api[_-]?key|private[_-]?key|access[_-]?key"
)
# key=value, "key": "value", 'key': 'value', Key: value. Keys may carry a prefix (db_password,
# x-api-key, access_token) but must end at the separator, so token_type or passwordless stay.
_KEY_VALUE = (
    rf"(?P<key>(?<![\w-])[\w-]*?(?i:{_KEY_WORDS}))(?P<sep>(?:\\?[\"'])?\s*[:=]\s*)"
    r"(?:(?P<quote>\\?[\"'])(?P<quoted>(?:(?!(?P=quote))(?:\\.|[^\\]))*)(?P=quote)"
    r"|(?P<scheme>(?i:bearer|basic|token|digest|bot)\s+)?(?P<bare>[^\s\"'&,;()\[\]{}<>]+))"
)
_BEARER = r"(?P<bearer>(?<![\w-])(?i:bearer)\s+)(?P<bearer_token>[A-Za-z0-9\-._~+/]+=*)"
# Credentials in URLs: postgres://user:password@host, redis://:password@host.
_URL_PASSWORD = r"(?P<userinfo>://[^/\s:@]*:)[^/\s@]+@"

# One combined pattern: a single scan per message keeps the filter cheap on every log line.
_SECRETS = re.compile("|".join((_KEY_VALUE, _PREFIXED_TOKEN, _BEARER, _URL_PASSWORD)))
_WHOLE_TOKEN = re.compile(_PREFIXED_TOKEN)


def _redact_value(value: str) -> str:
    # A known token sitting in a key=value keeps its prefix, so the kind stays visible.
    token = _WHOLE_TOKEN.fullmatch(value)
    return token["prefix"] + REDACTED if token else REDACTED


def _replace(match: re.Match[str]) -> str:
    if match["key"] is not None:
        head = match["key"] + match["sep"]
        if match["quote"] is not None:
            return f"{head}{match['quote']}{_redact_value(match['quoted'])}{match['quote']}"
        return f"{head}{match['scheme'] or ''}{_redact_value(match['bare'])}"
    if match["prefix"] is not None:
        return match["prefix"] + REDACTED
    if match["bearer"] is not None:
        return match["bearer"] + REDACTED
    return f"{match['userinfo']}{REDACTED}@"


def redact(text: str) -> str:
    """Replace every credential-looking substring of ``text`` with ``[REDACTED]``."""
    if not text:
        return text
    return _SECRETS.sub(_replace, text)


# Attributes every LogRecord has; anything else came from ``extra=`` and is redacted too.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, exception and string extras with ``redact``; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _redact_record(record)
        except Exception:
            # A raising filter loses the line; a half-redacted one leaks. Keep a placeholder.
            record.msg, record.args = "[log message withheld: redaction failed]", None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        message = f"{record.msg!s} (unformattable args: {record.args!r})"
    # Format once and clear args, so no handler re-interpolates an unredacted argument.
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
        # Formatters print exc_text when present; dropping exc_info stops one that re-renders
        # the live exception (whose str() carries the secret) from undoing the redaction.
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for name, value in vars(record).items():
        if name not in _STANDARD_ATTRS and isinstance(value, str):
            setattr(record, name, redact(value))
