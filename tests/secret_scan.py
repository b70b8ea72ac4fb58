"""A suite-wide watch for leaked secrets: every audit row and log line the suite produces.

Collected while the suite runs: every ``AuditEvent`` saved in this process (post_save, so rows
of rolled-back tests count too), the audit tables of committed ``live_tenant`` schemas before
they are dropped (rows written by daphne), every log line passing the product's redacting
pipeline, and the output of every daphne process started with ``run_daphne``. The last test of
the suite (tests/zz_last/) scans all of it for token-shaped strings.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Full platform tokens and the fake providers' token formats (Google, Slack, GitHub), which
# mirror the real ones. Redacted forms ("vmcp_st_[REDACTED]") do not match.
SECRET_RE = re.compile(
    r"vmcp_(?:st|sk|cl)_[0-9A-Za-z]{46}"
    r"|ya29\.[\w-]{16,}"
    r"|xox[abposre][.-][\w.-]{16,}"
    r"|gh[pousr]_[\w-]{16,}"
    r"|1//[\w-]{20,}"
)


@dataclass
class Collected:
    audit_rows: list[str] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)

    def findings(self) -> list[str]:
        found = []
        for kind, texts in (("audit row", self.audit_rows), ("log line", self.log_lines)):
            found += [f"{kind}: {text[:300]}" for text in texts if SECRET_RE.search(text)]
        for path in self.log_files:
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    if SECRET_RE.search(line):
                        found.append(f"{path.name}: {line[:300]}")
        return found


COLLECTED = Collected()
LOG_DIR = Path(tempfile.mkdtemp(prefix="vmcp-test-logs-"))


def audit_row_text(event: Any) -> str:
    values = {f.attname: getattr(event, f.attname) for f in event._meta.concrete_fields}
    return json.dumps(values, default=str)


def collect_audit_rows(queryset: Any) -> None:
    COLLECTED.audit_rows.extend(audit_row_text(event) for event in queryset.iterator())


def daphne_log_file(port: int) -> Path:
    path = LOG_DIR / f"daphne-{port}.log"
    COLLECTED.log_files.append(path)
    return path


class _ListHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        COLLECTED.log_lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def _watch_for_secrets(django_db_setup: None) -> None:
    from django.db.models.signals import post_save

    from audit.models import AuditEvent
    from vmcp_platform.logging import RedactingFilter

    def on_audit_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
        COLLECTED.audit_rows.append(audit_row_text(instance))

    # weak=False: the receiver is a local function that must outlive this fixture.
    post_save.connect(
        on_audit_saved, sender=AuditEvent, weak=False, dispatch_uid="suite-secret-scan"
    )
    # The same redacting pipeline the product's console handler uses (settings.LOGGING).
    handler = _ListHandler(level=logging.DEBUG)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
