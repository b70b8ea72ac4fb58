"""REST routes of the gateway under /t/<tenant>/api/v1/."""

from django.urls import path

from . import apis

urlpatterns = [
    path("execute_tool", apis.ExecuteToolApi.as_view(), name="execute-tool"),
]
