"""Metrics (Prometheus), traces (OpenTelemetry) and the per-request log line.

``metrics`` defines every metric and the one-line helpers the call sites use; ``tracing`` the
spans (a no-op unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set); ``request`` the per-MCP-request
record the three share (method, wire, tenant, status, execution id); ``endpoint`` serves
``/metrics``; ``logs`` the JSON formatter; ``celery_signals`` the task counters.
"""
