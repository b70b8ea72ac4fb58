"""Dashboard access, decided in one decorator: signed in, a member of this tenant, right role.

A non-member gets 404, not 403: the tenant's existence is not theirs to learn.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from .selectors import membership_get

View = Callable[..., HttpResponse]


def tenant_member_required(
    *, write: bool = False, roles: Collection[str] | None = None
) -> Callable[[View], View]:
    """``write``: owners and admins only; ``roles``: only these roles (e.g. owner-only pages).

    A member whose role does not qualify gets 404 on GET (the page is not theirs to see) and
    403 on anything else (a refused change).
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, tenant: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_get(user=request.user, tenant=request.tenant)  # type: ignore[attr-defined]
            if membership is None:
                raise Http404("No such tenant.")
            if (write and not membership.can_write) or (
                roles is not None and membership.role not in roles
            ):
                raise (
                    Http404("Not available to your role.")
                    if request.method == "GET"
                    else _forbidden()
                )
            request.membership = membership  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _forbidden() -> Exception:
    from django.core.exceptions import PermissionDenied

    return PermissionDenied("Your role can read but not change this tenant.")
