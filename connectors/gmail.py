"""Gmail, through the Gmail REST API v1 (https://developers.google.com/gmail/api/reference/rest).

Every tool acts on the connected user's own mailbox (``users/me``). Argument names follow the
API's own parameter names, so the API reference doubles as documentation.
"""

from __future__ import annotations

import base64
from email import policy
from email.message import EmailMessage
from typing import Any

from connectors._schema import (
    boolean,
    enum,
    integer,
    obj,
    read_only,
    rest,
    string,
    strings,
    writes,
)
from connectors.base import Connector, HttpCall, OAuthSpec, Tool

ME = "/gmail/v1/users/me"

GOOGLE_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
# access_type=offline returns a refresh token; prompt=consent makes Google return one again
# when the user reconnects (it is otherwise only sent on the very first consent).
GOOGLE_AUTHORIZE_PARAMS = {"access_type": "offline", "prompt": "consent"}


def raw_message(args: dict[str, Any]) -> str:
    """An RFC 2822 message, base64url-encoded as Gmail's ``raw`` field expects."""
    message = EmailMessage()
    if args.get("to"):
        message["To"] = ", ".join(args["to"])
    if args.get("cc"):
        message["Cc"] = ", ".join(args["cc"])
    if args.get("bcc"):
        message["Bcc"] = ", ".join(args["bcc"])
    message["Subject"] = args.get("subject", "")
    if args.get("in_reply_to"):
        # Both headers are needed for the recipient's client to thread the reply.
        message["In-Reply-To"] = args["in_reply_to"]
        message["References"] = args.get("references") or args["in_reply_to"]
    message.set_content(args.get("body", ""))
    if args.get("html_body"):
        message.add_alternative(args["html_body"], subtype="html")
    return base64.urlsafe_b64encode(message.as_bytes(policy=policy.SMTP)).decode("ascii")


def _message_resource(args: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {"raw": raw_message(args)}
    if args.get("thread_id"):
        resource["threadId"] = args["thread_id"]
    return resource


def _send_email(args: dict[str, Any]) -> HttpCall:
    return HttpCall("POST", f"{ME}/messages/send", json=_message_resource(args))


def _draft_body(args: dict[str, Any]) -> dict[str, Any]:
    return {"message": _message_resource(args)}


def _update_draft_body(args: dict[str, Any]) -> dict[str, Any]:
    return {"id": args["id"], "message": _message_resource(args)}


def _filter_body(args: dict[str, Any]) -> dict[str, Any]:
    return {"criteria": args["criteria"], "action": args["action"]}


_EMAILS = strings('Email addresses, e.g. ["ana@example.com"].')
_COMPOSE = {
    "to": strings("Recipient email addresses.", min_items=1),
    "cc": strings("Cc recipient email addresses."),
    "bcc": strings("Bcc recipient email addresses."),
    "subject": string("Subject line."),
    "body": string("Plain-text body."),
    "html_body": string("Optional HTML body, sent as an alternative to the plain-text body."),
    "thread_id": string("Gmail thread id to add the message to (when replying)."),
    "in_reply_to": string(
        "Message-ID header of the message being replied to, e.g. <abc@mail.gmail.com>."
    ),
    "references": string("References header; defaults to in_reply_to."),
}
_Q = string(
    "Gmail search query, same syntax as the Gmail search box, e.g. "
    "'from:ana@example.com is:unread newer_than:7d'."
)
_LABEL_IDS = strings('Only return items carrying all of these label ids, e.g. ["INBOX", "UNREAD"].')
_MAX_RESULTS = integer("Maximum number of results per page.", minimum=1, maximum=500)
_PAGE_TOKEN = string("nextPageToken from a previous response, to fetch the next page.")
_SPAM_TRASH = boolean("Include items from SPAM and TRASH. Default false.")
# messages.list and threads.list take the same filters.
_LIST_FILTERS = {
    "q": _Q,
    "labelIds": _LABEL_IDS,
    "maxResults": _MAX_RESULTS,
    "pageToken": _PAGE_TOKEN,
    "includeSpamTrash": _SPAM_TRASH,
}
_FORMAT = enum(
    ["full", "metadata", "minimal", "raw"],
    "Response format: full (parsed payload, default), metadata (headers only), minimal "
    "(ids and labels), raw (base64url RFC 2822 in 'raw').",
)
_METADATA_HEADERS = strings('With format=metadata, only return these headers, e.g. ["From"].')
_MESSAGE_ID = string("The Gmail message id (not the Message-ID header).")
_THREAD_ID = string("The Gmail thread id.")
_ADD_LABELS = strings('Label ids to add, e.g. ["STARRED"] or a user label id like Label_12.')
_REMOVE_LABELS = strings('Label ids to remove, e.g. ["UNREAD"] to mark as read.')
_LABEL_ID = string("The label id, e.g. INBOX or Label_12 (see gmail_list_labels).")
_LABEL_FIELDS = {
    "name": string("Display name of the label; use '/' for nesting, e.g. 'Clients/Acme'."),
    "messageListVisibility": enum(["show", "hide"], "Show messages with this label in lists."),
    "labelListVisibility": enum(
        ["labelShow", "labelShowIfUnread", "labelHide"], "Visibility in the label list."
    ),
}

_MESSAGE_SENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "threadId": {"type": "string"},
        "labelIds": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "threadId"],
}

_PROFILE = {
    "type": "object",
    "properties": {
        "emailAddress": {"type": "string"},
        "messagesTotal": {"type": "integer"},
        "threadsTotal": {"type": "integer"},
        "historyId": {"type": "string"},
    },
}

TOOLS = (
    Tool(
        name="gmail_fetch_mails",
        description=(
            "List messages in the user's mailbox, newest first, optionally filtered by a Gmail "
            "search query and labels. Returns message and thread ids only (plus "
            "nextPageToken); call gmail_get_message for headers and bodies."
        ),
        input_schema=obj(_LIST_FILTERS),
        request=rest("GET", f"{ME}/messages", query=tuple(_LIST_FILTERS)),
        annotations=read_only("Fetch emails"),
    ),
    Tool(
        name="gmail_get_message",
        description=(
            "Get one message by id: headers (From, To, Subject, Date), labels, snippet and the "
            "MIME payload with base64url-encoded body parts."
        ),
        input_schema=obj(
            {"id": _MESSAGE_ID, "format": _FORMAT, "metadataHeaders": _METADATA_HEADERS},
            ["id"],
        ),
        request=rest("GET", f"{ME}/messages/{{id}}", query=("format", "metadataHeaders")),
        annotations=read_only("Get email"),
    ),
    Tool(
        name="gmail_send_email",
        description=(
            "Send an email from the user's Gmail account. To reply within a thread, pass "
            "thread_id and the original Message-ID header as in_reply_to."
        ),
        input_schema=obj(_COMPOSE, ["to", "subject", "body"]),
        request=_send_email,
        output_schema=_MESSAGE_SENT,
        annotations=writes("Send email"),
    ),
    Tool(
        name="gmail_create_draft",
        description=(
            "Create a draft in the user's Drafts folder without sending it. Returns the draft "
            "id, usable with gmail_send_draft."
        ),
        input_schema=obj({**_COMPOSE, "to": _EMAILS}, ["body"]),
        request=rest("POST", f"{ME}/drafts", build_body=_draft_body),
        annotations=writes("Create draft"),
    ),
    Tool(
        name="gmail_list_drafts",
        description="List the user's drafts (draft ids with their message ids).",
        input_schema=obj(
            {
                "q": _Q,
                "maxResults": _MAX_RESULTS,
                "pageToken": _PAGE_TOKEN,
                "includeSpamTrash": _SPAM_TRASH,
            }
        ),
        request=rest(
            "GET", f"{ME}/drafts", query=("q", "maxResults", "pageToken", "includeSpamTrash")
        ),
        annotations=read_only("List drafts"),
    ),
    Tool(
        name="gmail_get_draft",
        description="Get one draft by draft id, including its message.",
        input_schema=obj({"id": string("The draft id."), "format": _FORMAT}, ["id"]),
        request=rest("GET", f"{ME}/drafts/{{id}}", query=("format",)),
        annotations=read_only("Get draft"),
    ),
    Tool(
        name="gmail_update_draft",
        description="Replace the whole content of an existing draft (recipients, subject, body).",
        input_schema=obj(
            {"id": string("The draft id."), **_COMPOSE, "to": _EMAILS}, ["id", "body"]
        ),
        request=rest("PUT", f"{ME}/drafts/{{id}}", build_body=_update_draft_body),
        annotations=writes("Update draft", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_send_draft",
        description="Send an existing draft to its recipients; the draft is removed from Drafts.",
        input_schema=obj({"id": string("The draft id (from gmail_create_draft).")}, ["id"]),
        request=rest("POST", f"{ME}/drafts/send", body=("id",)),
        annotations=writes("Send draft"),
    ),
    Tool(
        name="gmail_delete_draft",
        description="Permanently delete a draft (it does not go to Trash).",
        input_schema=obj({"id": string("The draft id.")}, ["id"]),
        request=rest("DELETE", f"{ME}/drafts/{{id}}"),
        annotations=writes("Delete draft", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_list_labels",
        description=(
            "List all labels in the mailbox: system labels (INBOX, SENT, UNREAD, STARRED, …) "
            "and user labels with their ids."
        ),
        input_schema=obj({}),
        request=rest("GET", f"{ME}/labels"),
        annotations=read_only("List labels"),
    ),
    Tool(
        name="gmail_get_label",
        description="Get one label with its message and thread counts.",
        input_schema=obj({"id": _LABEL_ID}, ["id"]),
        request=rest("GET", f"{ME}/labels/{{id}}"),
        annotations=read_only("Get label"),
    ),
    Tool(
        name="gmail_create_label",
        description="Create a user label. Fails if a label with the same name exists.",
        input_schema=obj(_LABEL_FIELDS, ["name"]),
        request=rest(
            "POST",
            f"{ME}/labels",
            body=("name", "messageListVisibility", "labelListVisibility"),
        ),
        annotations=writes("Create label"),
    ),
    Tool(
        name="gmail_update_label",
        description="Rename a user label or change its visibility; omitted fields are unchanged.",
        input_schema=obj({"id": _LABEL_ID, **_LABEL_FIELDS}, ["id"]),
        request=rest(
            "PATCH",
            f"{ME}/labels/{{id}}",
            body=("name", "messageListVisibility", "labelListVisibility"),
        ),
        annotations=writes("Update label", idempotent=True),
    ),
    Tool(
        name="gmail_delete_label",
        description=(
            "Permanently delete a user label and remove it from every message and thread. "
            "System labels cannot be deleted."
        ),
        input_schema=obj({"id": _LABEL_ID}, ["id"]),
        request=rest("DELETE", f"{ME}/labels/{{id}}"),
        annotations=writes("Delete label", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_modify_labels",
        description=(
            "Add or remove labels on one message: e.g. remove UNREAD to mark it read, add "
            "STARRED to star it, remove INBOX to archive it."
        ),
        input_schema=obj(
            {"id": _MESSAGE_ID, "addLabelIds": _ADD_LABELS, "removeLabelIds": _REMOVE_LABELS},
            ["id"],
        ),
        request=rest(
            "POST", f"{ME}/messages/{{id}}/modify", body=("addLabelIds", "removeLabelIds")
        ),
        annotations=writes("Modify message labels", idempotent=True),
    ),
    Tool(
        name="gmail_batch_modify",
        description="Add or remove labels on up to 1000 messages at once.",
        input_schema=obj(
            {
                "ids": strings("Message ids to modify.", min_items=1),
                "addLabelIds": _ADD_LABELS,
                "removeLabelIds": _REMOVE_LABELS,
            },
            ["ids"],
        ),
        request=rest(
            "POST", f"{ME}/messages/batchModify", body=("ids", "addLabelIds", "removeLabelIds")
        ),
        annotations=writes("Batch modify labels", idempotent=True),
    ),
    Tool(
        name="gmail_trash_message",
        description="Move a message to Trash (recoverable for 30 days with gmail_untrash_message).",
        input_schema=obj({"id": _MESSAGE_ID}, ["id"]),
        request=rest("POST", f"{ME}/messages/{{id}}/trash"),
        annotations=writes("Trash email", idempotent=True),
    ),
    Tool(
        name="gmail_untrash_message",
        description="Move a message out of Trash back to where it was.",
        input_schema=obj({"id": _MESSAGE_ID}, ["id"]),
        request=rest("POST", f"{ME}/messages/{{id}}/untrash"),
        annotations=writes("Restore email", idempotent=True),
    ),
    Tool(
        name="gmail_delete_message",
        description=(
            "Permanently and immediately delete a message. It cannot be recovered; prefer "
            "gmail_trash_message unless permanent deletion was explicitly asked for."
        ),
        input_schema=obj({"id": _MESSAGE_ID}, ["id"]),
        request=rest("DELETE", f"{ME}/messages/{{id}}"),
        annotations=writes("Delete email permanently", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_batch_delete",
        description="Permanently delete many messages at once. This cannot be undone.",
        input_schema=obj({"ids": strings("Message ids to delete.", min_items=1)}, ["ids"]),
        request=rest("POST", f"{ME}/messages/batchDelete", body=("ids",)),
        annotations=writes("Batch delete emails", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_get_attachment",
        description=(
            "Download one attachment of a message. The attachment id is in the message payload "
            "(parts[].body.attachmentId); the data comes back base64url-encoded."
        ),
        input_schema=obj(
            {"messageId": _MESSAGE_ID, "id": string("The attachment id.")}, ["messageId", "id"]
        ),
        request=rest("GET", f"{ME}/messages/{{messageId}}/attachments/{{id}}"),
        annotations=read_only("Get attachment"),
    ),
    Tool(
        name="gmail_list_threads",
        description=(
            "List conversation threads, optionally filtered by a Gmail search query and labels. "
            "Returns thread ids and snippets; call gmail_get_thread for the messages."
        ),
        input_schema=obj(_LIST_FILTERS),
        request=rest("GET", f"{ME}/threads", query=tuple(_LIST_FILTERS)),
        annotations=read_only("List threads"),
    ),
    Tool(
        name="gmail_get_thread",
        description="Get every message of one conversation thread, oldest first.",
        input_schema=obj(
            {"id": _THREAD_ID, "format": _FORMAT, "metadataHeaders": _METADATA_HEADERS}, ["id"]
        ),
        request=rest("GET", f"{ME}/threads/{{id}}", query=("format", "metadataHeaders")),
        annotations=read_only("Get thread"),
    ),
    Tool(
        name="gmail_modify_thread",
        description="Add or remove labels on every message of a thread.",
        input_schema=obj(
            {"id": _THREAD_ID, "addLabelIds": _ADD_LABELS, "removeLabelIds": _REMOVE_LABELS},
            ["id"],
        ),
        request=rest("POST", f"{ME}/threads/{{id}}/modify", body=("addLabelIds", "removeLabelIds")),
        annotations=writes("Modify thread labels", idempotent=True),
    ),
    Tool(
        name="gmail_trash_thread",
        description="Move a whole thread to Trash (recoverable with gmail_untrash_thread).",
        input_schema=obj({"id": _THREAD_ID}, ["id"]),
        request=rest("POST", f"{ME}/threads/{{id}}/trash"),
        annotations=writes("Trash thread", idempotent=True),
    ),
    Tool(
        name="gmail_untrash_thread",
        description="Move a whole thread out of Trash.",
        input_schema=obj({"id": _THREAD_ID}, ["id"]),
        request=rest("POST", f"{ME}/threads/{{id}}/untrash"),
        annotations=writes("Restore thread", idempotent=True),
    ),
    Tool(
        name="gmail_list_filters",
        description="List the user's message filters (criteria and actions).",
        input_schema=obj({}),
        request=rest("GET", f"{ME}/settings/filters"),
        annotations=read_only("List filters"),
    ),
    Tool(
        name="gmail_get_filter",
        description="Get one message filter by id.",
        input_schema=obj({"id": string("The filter id.")}, ["id"]),
        request=rest("GET", f"{ME}/settings/filters/{{id}}"),
        annotations=read_only("Get filter"),
    ),
    Tool(
        name="gmail_create_filter",
        description=(
            "Create a filter applied to incoming mail: when a message matches 'criteria', "
            "apply 'action' (add/remove labels, forward). Example: criteria {\"from\": "
            '"news@example.com"}, action {"removeLabelIds": ["INBOX"]} skips the inbox.'
        ),
        input_schema=obj(
            {
                "criteria": obj(
                    {
                        "from": string("Sender address or name to match."),
                        "to": string("Recipient to match."),
                        "subject": string("Phrase in the subject."),
                        "query": string("Gmail search query the message must match."),
                        "negatedQuery": string("Gmail search query the message must not match."),
                        "hasAttachment": boolean("Only messages with attachments."),
                        "excludeChats": boolean("Do not match chats."),
                        "size": integer("Size in bytes, used with sizeComparison.", minimum=0),
                        "sizeComparison": enum(["larger", "smaller"], "How to compare size."),
                    },
                    description="Which messages the filter matches; all given fields must match.",
                ),
                "action": obj(
                    {
                        "addLabelIds": _ADD_LABELS,
                        "removeLabelIds": _REMOVE_LABELS,
                        "forward": string("Verified forwarding address to forward to."),
                    },
                    description="What to do with matching messages.",
                ),
            },
            ["criteria", "action"],
        ),
        request=rest("POST", f"{ME}/settings/filters", build_body=_filter_body),
        annotations=writes("Create filter"),
    ),
    Tool(
        name="gmail_delete_filter",
        description="Delete a message filter by id. Already-filtered messages are unchanged.",
        input_schema=obj({"id": string("The filter id.")}, ["id"]),
        request=rest("DELETE", f"{ME}/settings/filters/{{id}}"),
        annotations=writes("Delete filter", destructive=True, idempotent=True),
    ),
    Tool(
        name="gmail_get_profile",
        description=(
            "Get the connected account's email address, total message and thread counts and "
            "current historyId (the starting point for gmail_list_history)."
        ),
        input_schema=obj({}),
        request=rest("GET", f"{ME}/profile"),
        output_schema=_PROFILE,
        annotations=read_only("Get profile"),
    ),
    Tool(
        name="gmail_list_history",
        description=(
            "List mailbox changes (messages added/deleted, labels added/removed) since a "
            "historyId, e.g. one from gmail_get_profile or a previous message."
        ),
        input_schema=obj(
            {
                "startHistoryId": string("Return changes after this history id."),
                "labelId": string("Only changes to messages with this label."),
                "historyTypes": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"],
                    },
                    "description": "Only these kinds of change.",
                },
                "maxResults": _MAX_RESULTS,
                "pageToken": _PAGE_TOKEN,
            },
            ["startHistoryId"],
        ),
        request=rest(
            "GET",
            f"{ME}/history",
            query=("startHistoryId", "labelId", "historyTypes", "maxResults", "pageToken"),
        ),
        annotations=read_only("List mailbox history"),
    ),
    Tool(
        name="gmail_get_vacation_settings",
        description="Get the vacation auto-reply settings.",
        input_schema=obj({}),
        request=rest("GET", f"{ME}/settings/vacation"),
        annotations=read_only("Get vacation responder"),
    ),
    Tool(
        name="gmail_update_vacation_settings",
        description=(
            "Turn the vacation auto-reply on or off and set its message. Times are epoch "
            "milliseconds; omitted fields are cleared, as the API replaces the whole setting."
        ),
        input_schema=obj(
            {
                "enableAutoReply": boolean("Whether the auto-reply is on."),
                "responseSubject": string("Subject of the auto-reply."),
                "responseBodyPlainText": string("Plain-text body of the auto-reply."),
                "restrictToContacts": boolean("Only reply to people in the user's contacts."),
                "restrictToDomain": boolean("Only reply to people in the user's domain."),
                "startTime": string("Start, epoch milliseconds as a string.", pattern=r"^\d+$"),
                "endTime": string("End, epoch milliseconds as a string.", pattern=r"^\d+$"),
            },
            ["enableAutoReply"],
        ),
        request=rest(
            "PUT",
            f"{ME}/settings/vacation",
            body=(
                "enableAutoReply",
                "responseSubject",
                "responseBodyPlainText",
                "restrictToContacts",
                "restrictToDomain",
                "startTime",
                "endTime",
            ),
        ),
        annotations=writes("Set vacation responder", idempotent=True),
    ),
)

CONNECTOR = Connector(
    slug="gmail",
    name="Gmail",
    description="Read, send, label and organise email in the user's Gmail account.",
    auth_kind="oauth2",
    api_base_url="https://gmail.googleapis.com",
    tools=TOOLS,
    oauth=OAuthSpec(
        authorize_url=GOOGLE_AUTHORIZE_URL,
        token_url=GOOGLE_TOKEN_URL,
        revoke_url=GOOGLE_REVOKE_URL,
        # mail.google.com is the only scope that allows permanent deletion; filters need
        # gmail.settings.basic, which no broader scope includes.
        default_scopes=(
            "https://mail.google.com/",
            "https://www.googleapis.com/auth/gmail.settings.basic",
        ),
        extra_authorize_params=GOOGLE_AUTHORIZE_PARAMS,
    ),
)
