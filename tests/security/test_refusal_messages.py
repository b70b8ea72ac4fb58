"""What a refusal says: enough to fix the URL, never the internal address a name resolved to
(a tenant admin could otherwise map the operator's internal DNS through save errors)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from vmcp_platform.egress import UnsafeUrl, check_url


def test_a_name_resolving_inside_is_refused_without_naming_the_address():
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]), pytest.raises(UnsafeUrl) as refused:
        check_url("http://localhost:8080/", field="server_url")
    assert "localhost" in refused.value.message and "server_url" in refused.value.message
    assert "127.0.0.1" not in refused.value.message and "::1" not in refused.value.message
    assert "127.0.0.1" not in str(refused.value.details)
