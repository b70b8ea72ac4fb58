"""The overview's figures for a period, and the same for one virtual server."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import tenant_context

from tests.dashboard.conftest import client_for

BASE = "/t/acme/dashboard"


def _figure(html: str, fig: str) -> str:
    return re.sub(
        r"<[^>]+>", "", re.search(rf'id="{fig}"[^>]*>(.*?)</(?:span|b|div)>', html, re.S)[1]
    ).strip()


def _seed(acme, furnished):  # noqa: ANN001
    """Ten calls on the demo server (8 ok, 1 error, 1 denied), one old call, and listings."""
    from audit.models import AuditEvent
    from dashboard.builder import builder_from_config

    now = timezone.now()
    demo, summarizer = furnished.demo_server, furnished.server
    rows = []
    for n in range(8):
        rows.append(
            AuditEvent(
                occurred_at=now - timedelta(minutes=n + 1),
                event_type="tool.called",
                outcome="ok",
                tool_name="demo_echo",
                identifier="dave@acme.test",
                config_id=demo.pk,
                latency_ms=100 + 10 * n,
                extra={"provider_ms": 80 + 10 * n},
            )
        )
    rows.append(
        AuditEvent(
            occurred_at=now - timedelta(minutes=20),
            event_type="tool.called",
            outcome="error",
            error_code="provider_error",
            tool_name="demo_echo",
            identifier="erin@acme.test",
            config_id=demo.pk,
            latency_ms=300,
            extra={"provider_ms": 290},
        )
    )
    rows.append(
        AuditEvent(
            occurred_at=now - timedelta(minutes=30),
            event_type="tool.denied",
            outcome="denied",
            error_code="rate_limited",
            tool_name="demo_echo",
            identifier="erin@acme.test",
            config_id=demo.pk,
            latency_ms=2,
        )
    )
    # Another server's call, and one from three days ago: outside the server page / 24 h.
    rows.append(
        AuditEvent(
            occurred_at=now - timedelta(minutes=5),
            event_type="tool.called",
            outcome="ok",
            tool_name="gmail_fetch_mails",
            identifier="dave@acme.test",
            config_id=summarizer.pk,
            latency_ms=50,
            extra={"provider_ms": 45},
        )
    )
    rows.append(
        AuditEvent(
            occurred_at=now - timedelta(days=3),
            event_type="tool.called",
            outcome="ok",
            tool_name="demo_echo",
            identifier="dave@acme.test",
            config_id=demo.pk,
            latency_ms=10,
            extra={"provider_ms": 5},
        )
    )
    for _ in range(3):
        rows.append(
            AuditEvent(
                occurred_at=now - timedelta(minutes=2),
                event_type="tools.listed",
                identifier="dave@acme.test",
                config_id=summarizer.pk,
                extra={"tool_count": 2, "token_count": 150},
            )
        )
    with tenant_context(acme):
        # The error row of the furnished tenant would blur the counts: start from these only.
        AuditEvent.objects.filter(event_type__in=["tool.called", "tool.denied"]).delete()
        AuditEvent.objects.bulk_create(rows)
        full = builder_from_config(
            summarizer, [m.connection for m in summarizer.mappings.all()]
        ).catalog_tokens
    return full


def test_overview_figures_for_the_last_24_hours(furnished, acme):
    full = _seed(acme, furnished)
    html = client_for("audrey").get(f"{BASE}/?period=24h").content.decode()
    assert _figure(html, "fig-calls") == "11"
    assert _figure(html, "fig-error-rate") == "9.1%"  # 1 of 11
    assert _figure(html, "fig-denied") == "1"
    # Latency over executed calls (10 in 24 h): total, vmcp's share, the provider's.
    assert _figure(html, "fig-vmcp") == "20 ms / 20 ms"
    # Provider times 45, 80…150, 290: the median between 110 and 120, p95 interpolated.
    assert _figure(html, "fig-provider") == "115 ms / 227 ms"
    assert _figure(html, "fig-listings") == "3"
    assert _figure(html, "fig-full-tokens") == f"{3 * full:,}"
    saved = 3 * full - 3 * 150
    assert _figure(html, "fig-saved-percent") == f"{round(100 * saved / (3 * full))}%"
    assert html.count('class="day"') == 24
    # The 30-day view also counts the call from three days ago.
    month = client_for("audrey").get(f"{BASE}/").content.decode()
    assert _figure(month, "fig-calls") == "12"
    assert month.count('class="day"') == 30


def test_each_bar_carries_its_values_for_hover(furnished, acme):
    _seed(acme, furnished)
    html = client_for("alice").get(f"{BASE}/?period=7d").content.decode()
    tips = re.findall(r'<span class="tip" role="tooltip">(.*?)</span>', html, re.S)
    assert len(tips) == 7
    today = re.sub(r"<[^>]+>", " ", tips[-1])
    assert "11 calls" in today and "9 ok · 1 error · 1 denied" in today


def test_a_servers_activity_page_counts_only_that_server(furnished, acme):
    _seed(acme, furnished)
    client = client_for("audrey")
    html = client.get(f"{BASE}/servers/{furnished.demo_server.pk}/activity/?period=24h")
    html = html.content.decode()
    assert _figure(html, "fig-calls") == "10"
    assert _figure(html, "fig-denied") == "1"
    assert "No tools/list yet" in html  # the listings were on the other server
    assert "gmail_fetch_mails" not in html
    assert f"server={furnished.demo_server.pk}" in html  # its links filter the audit log
    other = client.get(f"{BASE}/servers/{furnished.server.pk}/activity/?period=24h")
    assert _figure(other.content.decode(), "fig-listings") == "3"
    page = client.get(f"{BASE}/servers/{furnished.demo_server.pk}/").content.decode()
    assert f"/servers/{furnished.demo_server.pk}/activity/" in page


def test_another_tenant_cannot_see_a_servers_activity(furnished):
    url = f"{BASE}/servers/{furnished.demo_server.pk}/activity/"
    assert client_for("carol").get(url).status_code == 404


def test_an_empty_period_shows_dashes_not_zero_division(furnished):
    html = client_for("alice").get(f"{BASE}/?period=24h").content.decode()
    assert _figure(html, "fig-vmcp") == "— / —"
    assert "No tools/list yet" in html
