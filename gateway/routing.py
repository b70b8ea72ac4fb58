"""ASGI routes served by Channels consumers rather than Django views (the MCP endpoint)."""

from django.urls import URLPattern

mcp_routes: list[URLPattern] = []
