from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .exception_handler import error_body


# API clients send bearer keys, not cookies: without the exemption an unknown path answered a
# POST/DELETE with the CSRF middleware's HTML 403 instead of this JSON 404.
@csrf_exempt
def api_not_found(request: HttpRequest, tenant: str | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
