"""What the operator changes in kopf's and kubernetes_asyncio's defaults, checked against them."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import kopf
import pytest
from aiohttp import web
from kubernetes_asyncio import client

from helix_batch.operator.handlers import SpecDiffBase
from helix_batch.operator.kube import connect, raw
from helix_batch.operator.names import GROUP

JOB: dict[str, Any] = {
    "apiVersion": f"{GROUP}/v1alpha1",
    "kind": "HelixBatchJob",
    "metadata": {
        "name": "entities-jan", "namespace": "analytics", "resourceVersion": "7",
        "labels": {f"{GROUP}/phase": "Running", "team": "search"},
        "annotations": {"owner": "search", f"{GROUP}/kopf-managed": "yes"},
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"type": "EntityExtraction", "input": {"uri": "s3a://lake/conversations/"}},
    "status": {"phase": "Running", "attempt": 1},
}  # fmt: skip


def test_the_diff_base_is_what_kopf_builds_without_metadata() -> None:
    """Annotations written by kopf's own storage compare equal: no spurious change on upgrade."""
    stock = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, ignored_fields=["metadata"])
    body = kopf.Body(copy.deepcopy(JOB))  # type: ignore[arg-type]
    assert SpecDiffBase(prefix=GROUP).build(body=body) == stock.build(body=body)
    assert SpecDiffBase(prefix=GROUP).build(body=body) == {"spec": JOB["spec"]}


def test_labels_and_status_are_no_change_but_the_spec_is() -> None:
    storage = SpecDiffBase(prefix=GROUP)
    before = storage.build(body=kopf.Body(copy.deepcopy(JOB)))  # type: ignore[arg-type]
    relabelled = copy.deepcopy(JOB)
    relabelled["metadata"]["labels"][f"{GROUP}/phase"] = "Succeeded"
    relabelled["status"] = {"phase": "Succeeded"}
    assert storage.build(body=kopf.Body(relabelled)) == before  # type: ignore[arg-type]
    suspended = copy.deepcopy(JOB)
    suspended["spec"]["suspend"] = True
    assert storage.build(body=kopf.Body(suspended)) != before  # type: ignore[arg-type]


def test_the_diff_base_is_a_copy() -> None:
    job = copy.deepcopy(JOB)
    essence = SpecDiffBase(prefix=GROUP).build(body=kopf.Body(job))  # type: ignore[arg-type]
    job["spec"]["input"]["uri"] = "s3a://elsewhere/"
    assert essence["spec"]["input"]["uri"] == "s3a://lake/conversations/"


def test_the_api_session_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes_asyncio's own session would send this request to the (dead) proxy."""
    for variable in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # the discard port: nothing listens
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"gitVersion": "v1.36.0"})

    async def check() -> tuple[Any, int]:
        app = web.Application()
        app.router.add_get("/version/", version)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
        client.Configuration.set_default(configuration)
        api_client = connect(pool_size=3)
        try:
            body = await raw(client.VersionApi(api_client).get_code(_preload_content=False))
            connector = api_client.rest_client.pool_manager.connector
            assert connector is not None
            return json.loads(body), connector.limit
        finally:
            await api_client.close()
            await runner.cleanup()
            client.Configuration.set_default(None)

    served, limit = asyncio.run(check())
    assert served == {"gitVersion": "v1.36.0"}
    assert limit == 3
