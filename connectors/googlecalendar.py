"""Google Calendar, through the Calendar API v3
(https://developers.google.com/workspace/calendar/api/v3/reference).

Times are RFC 3339 strings (``2025-03-01T09:00:00+01:00``); all-day events use dates.
Argument names follow the API's own names.
"""

from __future__ import annotations

import uuid
from typing import Any

from connectors._schema import (
    boolean,
    enum,
    integer,
    obj,
    pick,
    read_only,
    rest,
    string,
    strings,
    writes,
)
from connectors.base import Connector, OAuthSpec, Tool
from connectors.gmail import (
    GOOGLE_AUTHORIZE_PARAMS,
    GOOGLE_AUTHORIZE_URL,
    GOOGLE_REVOKE_URL,
    GOOGLE_TOKEN_URL,
)

PRIMARY = {"calendarId": "primary"}

_CALENDAR_ID = string(
    "Calendar id: 'primary' for the user's main calendar, or an id from "
    "googlecalendar_list_calendars (often an email address).",
    default="primary",
)
_EVENT_ID = string("The event id.")
_SEND_UPDATES = enum(
    ["all", "externalOnly", "none"],
    "Who gets email notifications about the change. Default: none.",
)
_TIME = {
    "type": "object",
    "description": (
        'Either {"dateTime": RFC 3339 timestamp, "timeZone"?: IANA name} for a timed event '
        'or {"date": "YYYY-MM-DD"} for an all-day event (end date is exclusive).'
    ),
    "properties": {
        "dateTime": {"type": "string", "format": "date-time"},
        "date": {"type": "string", "format": "date"},
        "timeZone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris."},
    },
    "additionalProperties": False,
}
_EVENT_FIELDS: dict[str, Any] = {
    "summary": string("Title of the event."),
    "description": string("Description; may contain HTML."),
    "location": string("Free-form location."),
    "start": _TIME,
    "end": _TIME,
    "attendees": {
        "type": "array",
        "description": "People to invite.",
        "items": {
            "type": "object",
            "properties": {
                "email": {"type": "string"},
                "optional": {"type": "boolean"},
            },
            "required": ["email"],
            "additionalProperties": False,
        },
    },
    "recurrence": strings(
        'RRULE/EXRULE/RDATE/EXDATE lines (RFC 5545), e.g. ["RRULE:FREQ=WEEKLY;COUNT=5"].'
    ),
    "visibility": enum(["default", "public", "private", "confidential"], "Event visibility."),
    "transparency": enum(["opaque", "transparent"], "opaque blocks time; transparent does not."),
    "colorId": string("Event color id (1-11)."),
}
_EVENT_BODY_NAMES = tuple(_EVENT_FIELDS)

_LIST_EVENTS_QUERY = (
    "timeMin",
    "timeMax",
    "q",
    "maxResults",
    "pageToken",
    "singleEvents",
    "orderBy",
    "showDeleted",
    "timeZone",
    "updatedMin",
)


def _new_event_body(args: dict[str, Any]) -> dict[str, Any]:
    body = pick(args, _EVENT_BODY_NAMES)
    if args.get("create_meet_link"):
        # requestId makes the conference creation idempotent on Google's side.
        body["conferenceData"] = {
            "createRequest": {
                "requestId": uuid.uuid4().hex,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    return body


def _create_event(args: dict[str, Any]) -> Any:
    args = {**args}
    if args.get("create_meet_link"):
        args["conferenceDataVersion"] = 1
    return rest(
        "POST",
        "/calendars/{calendarId}/events",
        query=("sendUpdates", "conferenceDataVersion"),
        build_body=_new_event_body,
        defaults=PRIMARY,
    )(args)


def _freebusy_body(args: dict[str, Any]) -> dict[str, Any]:
    body = pick(args, ("timeMin", "timeMax", "timeZone"))
    body["items"] = [{"id": calendar_id} for calendar_id in args["calendars"]]
    return body


TOOLS = (
    Tool(
        name="googlecalendar_list_calendars",
        description=(
            "List the calendars on the user's calendar list (own, shared and subscribed), with "
            "their ids, names, time zones and the user's access role."
        ),
        input_schema=obj(
            {
                "minAccessRole": enum(
                    ["freeBusyReader", "reader", "writer", "owner"],
                    "Only calendars where the user has at least this role.",
                ),
                "showHidden": boolean("Include calendars hidden from the list."),
                "maxResults": integer("Maximum results per page.", minimum=1, maximum=250),
                "pageToken": string("nextPageToken from a previous response."),
            }
        ),
        request=rest(
            "GET",
            "/users/me/calendarList",
            query=("minAccessRole", "showHidden", "maxResults", "pageToken"),
        ),
        annotations=read_only("List calendars"),
    ),
    Tool(
        name="googlecalendar_get_calendar",
        description="Get a calendar's metadata: title, description, time zone.",
        input_schema=obj({"calendarId": _CALENDAR_ID}),
        request=rest("GET", "/calendars/{calendarId}", defaults=PRIMARY),
        annotations=read_only("Get calendar"),
    ),
    Tool(
        name="googlecalendar_create_calendar",
        description="Create a new secondary calendar owned by the user.",
        input_schema=obj(
            {
                "summary": string("Title of the calendar."),
                "description": string("Description of the calendar."),
                "timeZone": string("IANA time zone, e.g. America/New_York."),
            },
            ["summary"],
        ),
        request=rest("POST", "/calendars", body=("summary", "description", "timeZone")),
        annotations=writes("Create calendar"),
    ),
    Tool(
        name="googlecalendar_list_events",
        description=(
            "List events on a calendar. For 'what is on my calendar' questions pass timeMin/"
            "timeMax, singleEvents=true (expands recurring events) and orderBy=startTime."
        ),
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "timeMin": string(
                    "Only events ending after this RFC 3339 time, e.g. 2025-03-01T00:00:00Z.",
                    format="date-time",
                ),
                "timeMax": string(
                    "Only events starting before this RFC 3339 time.", format="date-time"
                ),
                "q": string("Free-text search in summary, description, location, attendees."),
                "maxResults": integer("Maximum events per page.", minimum=1, maximum=2500),
                "pageToken": string("nextPageToken from a previous response."),
                "singleEvents": boolean("Expand recurring events into single instances."),
                "orderBy": enum(
                    ["startTime", "updated"],
                    "Sort order; startTime requires singleEvents=true.",
                ),
                "showDeleted": boolean("Include cancelled events."),
                "timeZone": string("IANA time zone of the times in the response."),
                "updatedMin": string(
                    "Only events modified after this RFC 3339 time.", format="date-time"
                ),
            }
        ),
        request=rest(
            "GET", "/calendars/{calendarId}/events", query=_LIST_EVENTS_QUERY, defaults=PRIMARY
        ),
        annotations=read_only("List events"),
    ),
    Tool(
        name="googlecalendar_get_event",
        description="Get one event with its times, attendees and their responses.",
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "eventId": _EVENT_ID,
                "timeZone": string("IANA time zone of the times in the response."),
            },
            ["eventId"],
        ),
        request=rest(
            "GET",
            "/calendars/{calendarId}/events/{eventId}",
            query=("timeZone",),
            defaults=PRIMARY,
        ),
        annotations=read_only("Get event"),
    ),
    Tool(
        name="googlecalendar_create_event",
        description=(
            "Create an event. start and end are required; set sendUpdates=all to email the "
            "invitations and create_meet_link=true to attach a Google Meet link."
        ),
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                **_EVENT_FIELDS,
                "create_meet_link": boolean("Attach a new Google Meet video conference."),
                "sendUpdates": _SEND_UPDATES,
            },
            ["start", "end"],
        ),
        request=_create_event,
        annotations=writes("Create event"),
    ),
    Tool(
        name="googlecalendar_update_event",
        description=(
            "Change fields of an existing event; only the fields given are changed. Note that "
            "'attendees' replaces the whole attendee list."
        ),
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "eventId": _EVENT_ID,
                **_EVENT_FIELDS,
                "sendUpdates": _SEND_UPDATES,
            },
            ["eventId"],
        ),
        request=rest(
            "PATCH",
            "/calendars/{calendarId}/events/{eventId}",
            query=("sendUpdates",),
            body=_EVENT_BODY_NAMES,
            defaults=PRIMARY,
        ),
        annotations=writes("Update event", idempotent=True),
    ),
    Tool(
        name="googlecalendar_delete_event",
        description="Delete (cancel) an event. With sendUpdates=all, attendees are notified.",
        input_schema=obj(
            {"calendarId": _CALENDAR_ID, "eventId": _EVENT_ID, "sendUpdates": _SEND_UPDATES},
            ["eventId"],
        ),
        request=rest(
            "DELETE",
            "/calendars/{calendarId}/events/{eventId}",
            query=("sendUpdates",),
            defaults=PRIMARY,
        ),
        annotations=writes("Delete event", destructive=True, idempotent=True),
    ),
    Tool(
        name="googlecalendar_quick_add",
        description=(
            "Create an event from a natural-language sentence, as Google Calendar's quick add "
            "does, e.g. 'Lunch with Ana at Chez Max tomorrow 12:30-13:30'."
        ),
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "text": string("The sentence describing the event."),
                "sendUpdates": _SEND_UPDATES,
            },
            ["text"],
        ),
        request=rest(
            "POST",
            "/calendars/{calendarId}/events/quickAdd",
            query=("text", "sendUpdates"),
            defaults=PRIMARY,
        ),
        annotations=writes("Quick add event"),
    ),
    Tool(
        name="googlecalendar_move_event",
        description="Move an event to another calendar, changing its organizer.",
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "eventId": _EVENT_ID,
                "destination": string("Id of the calendar to move the event to."),
                "sendUpdates": _SEND_UPDATES,
            },
            ["eventId", "destination"],
        ),
        request=rest(
            "POST",
            "/calendars/{calendarId}/events/{eventId}/move",
            query=("destination", "sendUpdates"),
            defaults=PRIMARY,
        ),
        annotations=writes("Move event", idempotent=True),
    ),
    Tool(
        name="googlecalendar_list_event_instances",
        description="List the individual occurrences of a recurring event.",
        input_schema=obj(
            {
                "calendarId": _CALENDAR_ID,
                "eventId": string("Id of the recurring event."),
                "timeMin": string("Only instances ending after this time.", format="date-time"),
                "timeMax": string("Only instances starting before this time.", format="date-time"),
                "maxResults": integer("Maximum instances per page.", minimum=1, maximum=2500),
                "pageToken": string("nextPageToken from a previous response."),
            },
            ["eventId"],
        ),
        request=rest(
            "GET",
            "/calendars/{calendarId}/events/{eventId}/instances",
            query=("timeMin", "timeMax", "maxResults", "pageToken"),
            defaults=PRIMARY,
        ),
        annotations=read_only("List recurring event instances"),
    ),
    Tool(
        name="googlecalendar_freebusy",
        description=(
            "Find busy time ranges of one or more calendars between timeMin and timeMax, e.g. "
            "to find a free slot for a meeting. Returns busy intervals per calendar id."
        ),
        input_schema=obj(
            {
                "timeMin": string("Start of the interval, RFC 3339.", format="date-time"),
                "timeMax": string("End of the interval, RFC 3339.", format="date-time"),
                "calendars": strings(
                    'Calendar ids (or email addresses) to query, e.g. ["primary"].',
                    min_items=1,
                ),
                "timeZone": string("IANA time zone of the response. Default UTC."),
            },
            ["timeMin", "timeMax", "calendars"],
        ),
        request=rest("POST", "/freeBusy", build_body=_freebusy_body),
        annotations=read_only("Query free/busy"),
    ),
)

CONNECTOR = Connector(
    slug="googlecalendar",
    name="Google Calendar",
    description="Read and manage events on the user's Google calendars.",
    auth_kind="oauth2",
    api_base_url="https://www.googleapis.com/calendar/v3",
    tools=TOOLS,
    oauth=OAuthSpec(
        authorize_url=GOOGLE_AUTHORIZE_URL,
        token_url=GOOGLE_TOKEN_URL,
        revoke_url=GOOGLE_REVOKE_URL,
        default_scopes=("https://www.googleapis.com/auth/calendar",),
        extra_authorize_params=GOOGLE_AUTHORIZE_PARAMS,
    ),
)
