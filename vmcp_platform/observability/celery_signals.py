"""Celery task runs and failures as Prometheus counters, from Celery's own signals.

Connected by ``vmcp_platform.celery`` in every process that loads the app (workers, beat);
the label is the registered task's name (vmcp's own, bounded by ``metrics._bounded``). A worker
process's counts reach ``/metrics`` when it shares ``PROMETHEUS_MULTIPROC_DIR`` with the web
processes of its host (``make run``); elsewhere they stay in the worker (see the README).
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_failure, task_prerun

from . import metrics


def _run(sender: Any = None, **_: Any) -> None:
    metrics.count_task_run(getattr(sender, "name", "") or "")


def _failed(sender: Any = None, **_: Any) -> None:
    metrics.count_task_failure(getattr(sender, "name", "") or "")


def connect() -> None:
    task_prerun.connect(_run, weak=False, dispatch_uid="vmcp-metrics-task-run")
    task_failure.connect(_failed, weak=False, dispatch_uid="vmcp-metrics-task-failure")
