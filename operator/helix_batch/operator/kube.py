"""The few Kubernetes API calls the operator makes, behind a small protocol.

``reconcile`` talks to a ``ClusterApi``; ``KubeApi`` implements it with kubernetes_asyncio.
"""

from __future__ import annotations

import asyncio.sslproto
import json
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from helix_batch.operator.names import (
    GROUP,
    LABEL_JOB_UID,
    PLURAL,
    SCHEDULE_PLURAL,
    SPARK_GROUP,
    SPARK_PLURAL,
    SPARK_VERSION,
    VERSION,
)

TLS_READ_BUFFER = 64 * 1024
JobKey = tuple[str, str]  # (namespace, job name)
PodKey = tuple[str, str]  # (namespace, pod name)


class Conflict(Exception):
    """The job changed since it was read (optimistic concurrency)."""


class Invalid(Exception):
    """The API server refused an object as invalid (422); the message is its own."""


class SparkCrdMissing(Exception):
    """The API server does not serve SparkApplications: the spark-operator's CRD is missing."""

    reason = "SparkApplicationCRDMissing"

    def __init__(self) -> None:
        super().__init__(
            f"the API server does not serve {SPARK_PLURAL}.{SPARK_GROUP}/{SPARK_VERSION}: "
            "install the Kubeflow spark-operator (its SparkApplication CRD); retrying"
        )


class ClusterApi(Protocol):
    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def patch_job_status(
        self, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> None:
        """A JSON merge patch of status (None removes a key), refused if the job changed."""
        ...

    async def set_job_label(self, namespace: str, name: str, key: str, value: str) -> None:
        """Nothing if the job is gone."""
        ...

    async def delete_job(self, namespace: str, name: str, uid: str) -> None: ...
    async def get_app(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_app(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create, or return the existing object of that name (created before a restart);
        SparkCrdMissing if SparkApplications are not served."""
        ...

    async def delete_app(self, namespace: str, name: str) -> None: ...
    async def list_apps(self, namespace: str, job_uid: str) -> list[str]: ...
    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def delete_pod(self, namespace: str, name: str) -> None: ...


def _status_message(err: ApiException) -> str:
    """The message of the Status object an error response carries."""
    try:
        return str(json.loads(err.body or b"")["message"])
    except (TypeError, ValueError, KeyError):
        return str(err.reason)


def _missing(err: ApiException) -> bool:
    return err.status == 404


async def raw(request: Awaitable[Any]) -> bytes:
    """The body of a request made with ``_preload_content=False``; an error status raises
    ``ApiException`` as a preloaded request would. Raw JSON, because turning responses into the
    generated models (or even parsing them, when nobody reads them) costs more than a decision."""
    response = await request
    body: bytes = await response.read()
    if response.status >= 400:
        raise ApiException(status=response.status, reason=body.decode(errors="replace"))
    return body


def connect(pool_size: int) -> client.ApiClient:
    """A client of the loaded configuration with at most ``pool_size`` connections.

    kubernetes_asyncio's session trusts the environment: aiohttp then looks up proxy variables
    and ~/.netrc, in a thread, for every request. The operator takes its API server, and any
    proxy, from its kubeconfig or in-cluster configuration only, as kopf does by default.

    asyncio's TLS transport reads into a 256 KiB buffer per connection, which stays resident:
    64 pooled connections cost ~45 MB of RSS. Responses here are a few KiB, and long ones are
    read in several chunks either way."""
    asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = pool_size
    api_client = client.ApiClient(configuration)
    rest = api_client.rest_client
    trusting = rest.pool_manager
    # The read buffer as kubernetes_asyncio sizes it: a watch event may hold a 1.5 MiB object.
    rest.pool_manager = aiohttp.ClientSession(connector=trusting.connector, read_bufsize=2**21)
    trusting.detach()
    return api_client


class KubeApi:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            job: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as err:
            if _missing(err):
                return None
            raise
        return job

    async def patch_job_status(
        self, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> None:
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        try:
            await self.merge_patch_job(namespace, name, body, status=True)
        except ApiException as err:
            if err.status == 409:
                raise Conflict(name) from None
            raise

    async def set_job_label(self, namespace: str, name: str, key: str, value: str) -> None:
        body = {"metadata": {"labels": {key: value}}}
        try:
            await self.merge_patch_job(namespace, name, body, status=False)
        except ApiException as err:
            if not _missing(err):
                raise

    async def merge_patch_job(
        self, namespace: str, name: str, body: dict[str, Any], status: bool
    ) -> None:
        """A JSON merge patch of the job, or of its status subresource."""
        custom = self.custom
        patch = custom.patch_namespaced_custom_object_status if status else custom.patch_namespaced_custom_object  # fmt: skip
        await raw(patch(  # type: ignore[call-arg]
            GROUP, VERSION, namespace, PLURAL, name, body,
            _content_type="application/merge-patch+json", _preload_content=False,
        ))  # fmt: skip

    async def delete_job(self, namespace: str, name: str, uid: str) -> None:
        try:
            await self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name,
                body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)),
            )  # fmt: skip
        except ApiException as err:
            if not _missing(err):
                raise

    async def create_job(self, body: Mapping[str, Any]) -> bool:
        """Create-only: False if a job of that name exists (another replica, or this one before
        a restart, made it). Invalid if the API server refuses it."""
        try:
            await raw(self.custom.create_namespaced_custom_object(
                GROUP, VERSION, body["metadata"]["namespace"], PLURAL, dict(body),
                _preload_content=False,
            ))  # fmt: skip
        except ApiException as err:
            if err.status == 409:
                return False
            if err.status == 422:
                raise Invalid(_status_message(err)) from None
            raise
        return True

    async def list_jobs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        found = await raw(self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=selector, _preload_content=False,
        ))  # fmt: skip
        items: list[dict[str, Any]] = json.loads(found)["items"]
        return items

    async def get_schedule(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = await raw(self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, SCHEDULE_PLURAL, name, _preload_content=False,
            ))  # fmt: skip
        except ApiException as err:
            if _missing(err):
                return None
            raise
        schedule: dict[str, Any] = json.loads(found)
        return schedule

    async def patch_schedule_status(
        self, namespace: str, name: str, resource_version: str, status: Mapping[str, Any]
    ) -> None:
        """A JSON merge patch of status, refused (Conflict) if the schedule changed."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        try:
            await raw(self.custom.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
                GROUP, VERSION, namespace, SCHEDULE_PLURAL, name, body,
                _content_type="application/merge-patch+json", _preload_content=False,
            ))  # fmt: skip
        except ApiException as err:
            if err.status == 409:
                raise Conflict(name) from None
            if not _missing(err):
                raise

    async def get_app(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            app: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL, name
            )
        except ApiException as err:
            if _missing(err):
                return None
            raise
        return app

    async def create_app(self, body: Mapping[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        try:
            created: dict[str, Any] = await self.custom.create_namespaced_custom_object(
                SPARK_GROUP, SPARK_VERSION, meta["namespace"], SPARK_PLURAL, dict(body)
            )
        except ApiException as err:
            if _missing(err):  # the namespace exists (the job is in it): the resource does not
                raise SparkCrdMissing from None
            if err.status == 422:
                raise Invalid(_status_message(err)) from None
            if err.status != 409:
                raise
            existing = await self.get_app(meta["namespace"], meta["name"])
            if existing is None:
                raise
            return existing
        return created

    async def delete_app(self, namespace: str, name: str) -> None:
        try:
            await self.custom.delete_namespaced_custom_object(
                SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL, name,
                propagation_policy="Background",
            )  # fmt: skip
        except ApiException as err:
            if not _missing(err):
                raise

    async def list_apps(self, namespace: str, job_uid: str) -> list[str]:
        try:
            found = await self.custom.list_namespaced_custom_object(
                SPARK_GROUP, SPARK_VERSION, namespace, SPARK_PLURAL,
                label_selector=f"{LABEL_JOB_UID}={job_uid}",
            )  # fmt: skip
        except ApiException as err:
            if _missing(err):  # SparkApplications are not served, so there are none
                return []
            raise
        return [item["metadata"]["name"] for item in found.get("items", ())]

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            body = await raw(self.core.read_namespaced_pod(name, namespace, _preload_content=False))
        except ApiException as err:
            if _missing(err):
                return None
            raise
        pod: dict[str, Any] = json.loads(body)
        return pod

    async def delete_pod(self, namespace: str, name: str) -> None:
        try:
            await self.core.delete_namespaced_pod(name, namespace)
        except ApiException as err:
            if not _missing(err):
                raise
