"""The controller's retries: a change kopf reported is retried by the work queue after a second,
not by kopf a minute later; a deletion stays kopf's (its finalizer holds until it succeeds)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from kubernetes_asyncio import client
from prometheus_client import REGISTRY

from helix_batch.operator.controller import Controller
from helix_batch.operator.settings import Settings


def retries() -> float:
    return REGISTRY.get_sample_value("workqueue_retries_total", {"name": "jobs"}) or 0.0


def unreachable() -> client.ApiClient:
    """An API client whose every request fails (nothing listens on port 9)."""
    configuration = client.Configuration(host="http://127.0.0.1:9")
    return client.ApiClient(configuration)


def test_a_failed_change_is_retried_by_the_queue_and_a_failed_deletion_by_kopf() -> None:
    async def scenario() -> None:
        api = unreachable()
        controller = Controller(api, Settings(), lambda: datetime.now(UTC))
        try:
            before = retries()
            await controller.reconcile("change", ("analytics", "entities-jan"))  # no raise
            assert retries() == before + 1
            with pytest.raises(Exception):  # noqa: B017 - whatever the client raises
                await controller.reconcile("delete", ("analytics", "entities-jan"), deleting=True)
            assert retries() == before + 1
        finally:
            await api.close()

    asyncio.run(scenario())
