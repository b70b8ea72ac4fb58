"""The fake Google Calendar API (``/calendar/v3/...``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import Handler, _Call, _google_error, _hex_id, _now_iso
from .gmail import _page

if TYPE_CHECKING:
    from .server import FakeProviders


@dataclass
class _Calendars:
    user: str
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return f"{self.user}@example.com"

    HOLIDAYS = "en.usa#holiday@group.v.calendar.google.com"

    @classmethod
    def seeded(cls, user: str) -> _Calendars:
        cals = cls(user)
        cals.events = {cals.primary: {}, cls.HOLIDAYS: {}}
        start = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        cals.insert(
            cals.primary,
            {
                "summary": f"Standup ({user})",
                "start": {"dateTime": start.isoformat().replace("+00:00", "Z")},
                "end": {
                    "dateTime": (start + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
                },
            },
        )
        return cals

    def resolve(self, calendar_id: str) -> str | None:
        calendar_id = self.primary if calendar_id == "primary" else calendar_id
        return calendar_id if calendar_id in self.events else None

    def insert(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event_id = _hex_id(self.user, "event")
        event = {
            "kind": "calendar#event",
            "etag": f'"{event_id}"',
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "updated": now,
            **{k: v for k, v in body.items() if k != "conferenceData"},
            "creator": {"email": self.primary, "self": True},
            "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
        }
        if body.get("conferenceData", {}).get("createRequest"):
            event["hangoutLink"] = f"https://meet.google.com/{event_id[:3]}-{event_id[3:7]}"
        self.events[calendar_id][event_id] = event
        return event


def _event_start(event: dict[str, Any]) -> datetime | None:
    return _parse_time(event.get("start", {}))


def _event_end(event: dict[str, Any]) -> datetime | None:
    return _parse_time(event.get("end", {}))


def _parse_time(value: dict[str, Any] | str | None) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("dateTime") or value.get("date")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def calendar_list(fake: FakeProviders, call: _Call) -> Response:
    cals = fake._calendar_of(call.user)
    items = [
        {
            "kind": "calendar#calendarListEntry",
            "id": cals.primary,
            "summary": cals.primary,
            "timeZone": "UTC",
            "accessRole": "owner",
            "primary": True,
            "selected": True,
        },
        {
            "kind": "calendar#calendarListEntry",
            "id": cals.HOLIDAYS,
            "summary": "Holidays in United States",
            "timeZone": "UTC",
            "accessRole": "reader",
        },
    ]
    return JSONResponse(
        {"kind": "calendar#calendarList", "etag": '"fake"', "nextSyncToken": "sync", "items": items}
    )


def _calendar_or_404(fake: FakeProviders, call: _Call) -> tuple[_Calendars, str] | Response:
    cals = fake._calendar_of(call.user)
    calendar_id = cals.resolve(call.request.path_params["calendarId"])
    if calendar_id is None:
        return _google_error(404, "Not Found", "notFound")
    return cals, calendar_id


def calendar_events(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    if call.request.method == "POST":
        body = call.json if isinstance(call.json, dict) else {}
        if not body.get("start") or not body.get("end"):
            missing = "end" if body.get("start") else "start"
            return _google_error(400, f"Missing {missing} time.", "required")
        return JSONResponse(cals.insert(calendar_id, body))
    time_min = _parse_time(str(call.query.get("timeMin", "")))
    time_max = _parse_time(str(call.query.get("timeMax", "")))
    q = str(call.query.get("q", "")).lower()
    items = []
    for event in cals.events[calendar_id].values():
        start, end = _event_start(event), _event_end(event)
        if time_min and end and end <= time_min:
            continue
        if time_max and start and start >= time_max:
            continue
        text = " ".join(str(event.get(k, "")) for k in ("summary", "description", "location"))
        if q and q not in text.lower():
            continue
        items.append(event)
    items.sort(key=lambda e: _event_start(e) or datetime.min.replace(tzinfo=UTC))
    chunk, next_token = _page(items, call, default=250)
    body = {
        "kind": "calendar#events",
        "summary": calendar_id,
        "timeZone": "UTC",
        "updated": _now_iso(),
        "accessRole": "owner" if calendar_id == cals.primary else "reader",
        "items": chunk,
    }
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def calendar_event(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    event = cals.events[calendar_id].get(call.request.path_params["eventId"])
    if event is None:
        return _google_error(404, "Not Found", "notFound")
    if call.request.method == "DELETE":
        del cals.events[calendar_id][event["id"]]
        return Response(status_code=204)
    if call.request.method in ("PATCH", "PUT"):
        event.update(call.json if isinstance(call.json, dict) else {})
        event["updated"] = _now_iso()
        event["sequence"] += 1
    return JSONResponse(event)


def calendar_quick_add(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    text = str(call.query.get("text", ""))
    if not text:
        return _google_error(400, "Required parameter: text", "required")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    event = cals.insert(
        calendar_id,
        {
            "summary": text,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        },
    )
    return JSONResponse(event)


def calendar_freebusy(fake: FakeProviders, call: _Call) -> Response:
    cals = fake._calendar_of(call.user)
    body = call.json if isinstance(call.json, dict) else {}
    time_min, time_max = _parse_time(body.get("timeMin")), _parse_time(body.get("timeMax"))
    if time_min is None or time_max is None:
        return _google_error(400, "Missing timeMin or timeMax.", "required")
    result: dict[str, Any] = {}
    for item in body.get("items", []):
        requested = str(item.get("id", ""))
        calendar_id = cals.resolve(requested)
        if calendar_id is None:
            result[requested] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            continue
        busy = []
        for event in cals.events[calendar_id].values():
            start, end = _event_start(event), _event_end(event)
            if start and end and start < time_max and end > time_min:
                busy.append(
                    {"start": event["start"].get("dateTime"), "end": event["end"].get("dateTime")}
                )
        result[requested] = {"busy": busy}
    return JSONResponse(
        {
            "kind": "calendar#freeBusy",
            "timeMin": body["timeMin"],
            "timeMax": body["timeMax"],
            "calendars": result,
        }
    )


_CAL = "/calendar/v3"

ROUTES: list[tuple[str, str, Handler, list[str]]] = [
    ("google", f"{_CAL}/users/me/calendarList", calendar_list, ["GET"]),
    ("google", f"{_CAL}/calendars/{{calendarId}}/events", calendar_events, ["GET", "POST"]),
    (
        "google",
        f"{_CAL}/calendars/{{calendarId}}/events/quickAdd",
        calendar_quick_add,
        ["POST"],
    ),
    (
        "google",
        f"{_CAL}/calendars/{{calendarId}}/events/{{eventId}}",
        calendar_event,
        ["GET", "PATCH", "PUT", "DELETE"],
    ),
    ("google", f"{_CAL}/freeBusy", calendar_freebusy, ["POST"]),
]
