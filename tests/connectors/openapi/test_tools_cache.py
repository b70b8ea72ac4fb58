"""The ORM call path reads an openapi connection's tools JSON (7 MB for GitHub) once per
version of the row, not per call; a re-import is seen by the next call."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from gateway.execution import tools_cache
from tests.gateway.test_execution_support import run
from vmcp_platform.errors import NotFound

from .fake_api import FakeApi
from .support import PETSTORE, document
from .test_connection_api import BASE, LOOPBACK


@pytest.fixture
def loads(monkeypatch):  # noqa: ANN001
    """Counts the reads of the tools column."""
    seen: list[int] = []
    real = tools_cache._load

    def counting(connection_id: int):  # noqa: ANN202
        seen.append(connection_id)
        return real(connection_id)

    tools_cache.clear()
    monkeypatch.setattr(tools_cache, "_load", counting)
    yield seen
    tools_cache.clear()


def _call(tenant, tool: str = "pets_get_pet_by_id"):  # noqa: ANN001, ANN202
    return run(
        tenant, connection_name="pets", tool_name=tool, identifier="a", arguments={"petId": 1}
    )


def test_tools_are_parsed_once_per_version_and_a_reimport_is_seen(acme, acme_api, loads):
    with LOOPBACK, FakeApi(PETSTORE) as api:
        created = acme_api.post(
            f"{BASE}/connections",
            {
                "name": "pets",
                "connector": "openapi",
                "auth_type": "shared_header",
                "settings": {"document": document(PETSTORE), "server_url": api.url},
                "secrets": {"shared_credential": "k"},
            },
            format="json",
        )
        assert created.status_code == 201
        with tenant_context(acme):
            assert _call(acme).error is None
            with CaptureQueriesContext(db_connection) as queries:
                for _ in range(3):
                    assert _call(acme).error is None
        assert len(loads) == 1
        # No statement of those calls read the row whole (the column is left out of it).
        assert not [q["sql"] for q in queries.captured_queries if "c.*" in q["sql"]]

        doc = document(PETSTORE)
        del doc["paths"]["/pet/{petId}"]["get"]
        changed = acme_api.patch(
            f"{BASE}/connections/pets", {"settings": {"document": doc}}, format="json"
        )
        assert changed.status_code == 200
        with tenant_context(acme):
            with pytest.raises(NotFound) as gone:
                _call(acme)
            assert gone.value.code == "unknown_tool"
            assert _call(acme, "pets_delete_pet").error is None
        assert len(loads) == 2
    assert api.errors == []
