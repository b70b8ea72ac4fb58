"""Reading the audit trail over REST: filters, a cursor that never skips or repeats, a streaming
export, and nothing of another tenant's."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tests.audit.factories import make_event

URL = "/t/acme/api/v1/audit/events"
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(in_acme):
    """A small, known trail in acme (plus whatever the API key fixture recorded)."""
    config_id = uuid.uuid4()
    events = {
        "alice_gmail": make_event(occurred_at=BASE, identifier="alice", config_id=config_id),
        "bob_slack": make_event(
            occurred_at=BASE + timedelta(minutes=1),
            identifier="bob",
            tool_name="slack_post",
            connection_name="slack",
            outcome="error",
            error_code="provider_error",
        ),
        "alice_denied": make_event(
            occurred_at=BASE + timedelta(minutes=2),
            event_type="tool.denied",
            outcome="denied",
            identifier="alice",
            tool_name="github_delete_repo",
            connection_name="github",
        ),
        "token": make_event(
            occurred_at=BASE + timedelta(minutes=3),
            event_type="token.minted",
            identifier="alice",
            tool_name="",
            connection_name="",
            config_id=config_id,
        ),
    }
    return {"config_id": config_id, **events}


def _ids(response) -> list[int]:  # noqa: ANN001
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["data"]]


def test_list_is_newest_first_with_every_field(acme_api, trail):
    response = acme_api.get(URL, {"until": "2026-03-02T00:00:00Z"})
    body = response.json()
    assert _ids(response) == [
        trail["token"].pk,
        trail["alice_denied"].pk,
        trail["bob_slack"].pk,
        trail["alice_gmail"].pk,
    ]
    assert body["next_cursor"] is None
    assert body["data"][2] == {
        "id": trail["bob_slack"].pk,
        "occurred_at": "2026-03-01T12:01:00Z",
        "event_type": "tool.called",
        "outcome": "error",
        "error_code": "provider_error",
        "actor": "identifier:alice",
        "identifier": "bob",
        "session_token_id": None,
        "config_id": None,
        "connection_name": "slack",
        "account_id": None,
        "tool_name": "slack_post",
        "latency_ms": None,
        "request_id": "",
        "agent_run_id": "",
        "extra": {},
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"identifier": "alice"}, ["token", "alice_denied", "alice_gmail"]),
        ({"tool": "slack_post"}, ["bob_slack"]),
        ({"connection": "github"}, ["alice_denied"]),
        ({"outcome": "denied"}, ["alice_denied"]),
        ({"event_type": "token.minted"}, ["token"]),
        ({"identifier": "alice", "outcome": "ok"}, ["token", "alice_gmail"]),
        (
            {"since": "2026-03-01T12:01:00Z", "until": "2026-03-01T12:03:00+00:00"},
            ["alice_denied", "bob_slack"],
        ),
        (
            {"since": "2026-03-01T13:01:00+01:00", "until": "2026-03-02T00:00:00Z"},
            ["token", "alice_denied", "bob_slack"],
        ),
    ],
)
def test_filters_narrow_the_trail(acme_api, trail, params, expected):
    params = {"until": "2026-03-02T00:00:00Z", **params}
    assert _ids(acme_api.get(URL, params)) == [trail[name].pk for name in expected]


def test_config_filter_matches_the_virtual_server(acme_api, trail):
    response = acme_api.get(URL, {"config": str(trail["config_id"])})
    assert _ids(response) == [trail["token"].pk, trail["alice_gmail"].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"outcome": "maybe"}, "outcome"),
        ({"event_type": "tool.exploded"}, "event_type"),
        ({"config": "not-a-uuid"}, "config"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_field(acme_api, trail, params, field):
    response = acme_api.get(URL, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["details"]) == [field]


def test_cursor_pages_cover_the_trail_without_gaps_or_repeats(acme_api, in_acme):
    # Ten events share one timestamp, so the id must break the tie.
    made = [make_event(occurred_at=BASE, identifier="pager") for _ in range(10)]
    made += [
        make_event(occurred_at=BASE - timedelta(seconds=i), identifier="pager")
        for i in range(1, 14)
    ]
    expected = [e.pk for e in sorted(made, key=lambda e: (e.occurred_at, e.pk), reverse=True)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"identifier": "pager", "limit": 7, **({"cursor": cursor} if cursor else {})}
        body = acme_api.get(URL, params).json()
        seen += [e["id"] for e in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # An event newer than the cursor, recorded mid-walk, must not shift later pages.
        with tenant_context(in_acme):  # the request left the connection on the public schema
            make_event(identifier="pager")

    assert seen == expected
    assert pages == 4


def test_limit_defaults_to_50(acme_api, in_acme):
    AuditEvent.objects.bulk_create(
        AuditEvent(occurred_at=BASE, event_type="tool.called", identifier="many") for _ in range(51)
    )
    body = acme_api.get(URL, {"identifier": "many"}).json()
    assert len(body["data"]) == 50
    assert body["next_cursor"]


def test_one_event_by_id(acme_api, trail):
    response = acme_api.get(f"{URL}/{trail['bob_slack'].pk}")
    assert response.status_code == 200
    assert response.json()["tool_name"] == "slack_post"


def test_acme_cannot_read_a_globex_event_by_id(acme_api, globex, in_acme):
    with tenant_context(globex):
        theirs = make_event(identifier="carol", tool_name="globex_secret_tool")
    # Ids are per schema: make sure acme has no event of its own with that id.
    AuditEvent.objects.filter(pk=theirs.pk).delete()

    response = acme_api.get(f"{URL}/{theirs.pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    listing = acme_api.get(URL, {"identifier": "carol"}).json()
    assert listing == {"data": [], "next_cursor": None}
    export = b"".join(acme_api.get(f"{URL}/export", {"format": "jsonl"}).streaming_content)
    assert b"globex_secret_tool" not in export


def test_a_globex_key_cannot_read_acmes_trail(globex_api, trail):
    response = globex_api.get(URL)
    assert response.status_code == 401


def test_export_csv_streams_the_filtered_trail(acme_api, trail):
    response = acme_api.get(f"{URL}/export", {"format": "csv", "identifier": "alice"})

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [
        trail["token"].pk,
        trail["alice_denied"].pk,
        trail["alice_gmail"].pk,
    ]
    assert rows[2]["occurred_at"] == "2026-03-01T12:00:00+00:00"
    assert rows[2]["config_id"] == str(trail["config_id"])
    assert rows[2]["latency_ms"] == ""
    assert rows[1]["outcome"] == "denied"


def test_export_csv_neutralises_spreadsheet_formulas(acme_api, in_acme):
    make_event(identifier='=HYPERLINK("http://evil")', extra={"k": "v"})
    response = acme_api.get(f"{URL}/export", {"format": "csv", "event_type": "tool.called"})
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["identifier"] == '\'=HYPERLINK("http://evil")'
    assert json.loads(row["extra"]) == {"k": "v"}


def test_export_jsonl_has_one_object_per_event(acme_api, trail):
    response = acme_api.get(f"{URL}/export", {"format": "jsonl", "tool": "slack_post"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "id": trail["bob_slack"].pk,
            "occurred_at": "2026-03-01T12:01:00+00:00",
            "event_type": "tool.called",
            "outcome": "error",
            "error_code": "provider_error",
            "actor": "identifier:alice",
            "identifier": "bob",
            "session_token_id": None,
            "config_id": None,
            "connection_name": "slack",
            "account_id": None,
            "tool_name": "slack_post",
            "latency_ms": None,
            "request_id": "",
            "agent_run_id": "",
            "extra": {},
        }
    ]


def test_export_spans_many_parts_in_order(acme_api, in_acme):
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=BASE - timedelta(seconds=i), event_type="tool.called", identifier="bulk"
        )
        for i in range(1234)
    )
    response = acme_api.get(f"{URL}/export", {"format": "jsonl", "identifier": "bulk"})
    parts = list(response.streaming_content)
    lines = b"".join(parts).decode().splitlines()
    assert len(parts) == 3
    assert len(lines) == 1234
    times = [json.loads(line)["occurred_at"] for line in lines]
    assert times == sorted(times, reverse=True)


def test_export_defaults_to_csv_and_rejects_unknown_formats(acme_api, trail):
    default = acme_api.get(f"{URL}/export")
    assert default["Content-Type"] == "text/csv; charset=utf-8"
    assert b"".join(default.streaming_content).startswith(b"id,occurred_at,event_type,")

    response = acme_api.get(f"{URL}/export", {"format": "xml"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["details"]) == ["format"]

    bad_filter = acme_api.get(f"{URL}/export", {"format": "csv", "since": "soon"})
    assert bad_filter.status_code == 400
    assert list(bad_filter.json()["error"]["details"]) == ["since"]


def test_export_over_real_http_streams_from_the_asgi_server(
    live_tenant, live_server_url, django_db_blocker
):
    import httpx

    from tenants.services import api_key_create

    with django_db_blocker.unblock():
        secret = api_key_create(tenant=live_tenant, name="export").secret
        with tenant_context(live_tenant):
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    occurred_at=BASE - timedelta(seconds=i),
                    event_type="tool.called",
                    identifier="over-http",
                )
                for i in range(2500)
            )
    url = f"{live_server_url}/t/{live_tenant.slug}/api/v1/audit/events/export"
    with httpx.stream(
        "GET",
        url,
        params={"format": "jsonl", "identifier": "over-http"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 2500
    assert json.loads(lines[0])["occurred_at"] == BASE.isoformat()
