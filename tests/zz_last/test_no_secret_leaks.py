"""Runs last (tests/zz_last/): no token or secret in any audit row or log line of the suite."""

from __future__ import annotations

import logging

from accounts.services.sessions import session_token_mint
from audit.services import audit_record
from configs.models import McpConfig
from tenants.services import api_key_create
from tests.secret_scan import COLLECTED, SECRET_RE


def test_the_scan_recognises_every_kind_of_secret_it_looks_for():
    samples = [
        "vmcp_st_" + "a1B2" * 11 + "xY",
        "vmcp_sk_" + "Z9" * 23,
        "ya29.a0AfH6SMBxxxxxxxxxxxxxxxx",
        "xoxe.xoxp-1-abcdefghijklmnopqrst",
        "ghu_abcdefghijklmnopqrstu",
        "1//0gabcdefghijklmnopqrstuvwxyz",
    ]
    assert [bool(SECRET_RE.search(s)) for s in samples] == [True] * len(samples)
    assert not SECRET_RE.search("vmcp_st_[REDACTED] token_type=Bearer ghu_short")


def test_no_token_or_secret_in_any_audit_row_or_log_line_of_the_suite(in_acme, acme):
    # Produce secrets on purpose through the product's paths, so the scan is never vacuous.
    key = api_key_create(tenant=acme, name="scan", created_by="tests").secret
    config = McpConfig.objects.create(name="scan")
    minted = session_token_mint(
        config=config, identifier="scan-user", expiry_seconds=60, actor="tests"
    )
    audit_record(
        event_type="tool.called",
        actor="tests",
        extra={"note": f"token {minted.secret}", "authorization": f"Bearer {key}"},
    )
    logging.getLogger("vmcp.scan").warning("client sent %s and %s", key, minted.secret)

    assert len(COLLECTED.audit_rows) >= 3 and len(COLLECTED.log_lines) >= 1
    assert COLLECTED.findings() == []
