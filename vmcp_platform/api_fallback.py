from django.http import HttpRequest, JsonResponse

from .exception_handler import error_body


def api_not_found(request: HttpRequest, tenant: str | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
