"""What every dashboard view shares: who is acting, confirmations, and service errors on forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from vmcp_platform.errors import ApplicationError


def actor_of(request: HttpRequest) -> str:
    """The audit actor for a dashboard user."""
    return f"user:{request.user.get_username()}"


def confirmed(request: HttpRequest) -> bool:
    """A destructive action runs only on a POST that carries the confirm page's answer."""
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    question: str,
    action: str,
    cancel_url: str,
    consequence: str = "",
    hidden: dict[str, str] | None = None,
    section: str = "",
) -> HttpResponse:
    return render(
        request,
        "dashboard/confirm.html",
        {
            "title": title,
            "question": question,
            "action": action,
            "cancel_url": cancel_url,
            "consequence": consequence,
            "hidden": sorted((hidden or {}).items()),
            "section": section,
        },
    )


def form_error(form: forms.Form, exc: ApplicationError) -> None:
    """Put a service's validation error next to the field it names, else above the form.

    The services name the field one of three ways: ``details={"field": "<name>"}`` (the error's
    message is about that field), ``details={"fields": {name: message}}``, or ``details={name:
    message}``; a value that merely echoes the submitted input gets the error's own message.
    """
    named = exc.details.get("field")
    if isinstance(named, str) and named in form.fields:
        form.add_error(named, exc.message)
        return
    many = exc.details.get("fields")
    details = many if isinstance(many, dict) and many else exc.details
    placed = False
    for field, value in details.items():
        if field not in form.fields:
            continue
        echoed = not isinstance(value, str) or value == form.data.get(field)
        form.add_error(field, exc.message if echoed else value[:1].upper() + value[1:])
        placed = True
    if not placed:
        form.add_error(None, exc.message)


def render_page(
    request: HttpRequest,
    template: str,
    section: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    """Render a dashboard page; ``section`` highlights its entry in the sidebar."""
    return render(request, template, {"section": section, **(context or {})}, status=status)
