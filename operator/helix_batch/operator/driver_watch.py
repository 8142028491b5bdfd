"""Driver pods, followed by one list-and-watch with a server-side label selector.

kopf filters labels client-side, so a kopf pod handler would stream and parse every pod of the
watched namespaces. Here the API server sends only driver pods of HelixBatchJobs, and what
the operator keeps of each is its ``Driver`` observation, not the pod.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client

from helix_batch.operator.kube import JobKey, PodKey, raw
from helix_batch.operator.lifecycle import Driver, observe_driver
from helix_batch.operator.names import LABEL_JOB

log = logging.getLogger(__name__)
SELECTOR = f"{LABEL_JOB},spark-role=driver"
WATCH_SECONDS = 300
RETRY_SECONDS = (1, 2, 5, 10)


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class DriverPods:
    """The last seen state of every driver pod; ``on_change`` gets the job of each change."""

    def __init__(self, api_client: client.ApiClient, on_change: Callable[[JobKey], None]) -> None:
        self._core = client.CoreV1Api(api_client)
        self._on_change = on_change
        self.drivers: dict[PodKey, Driver] = {}
        self._jobs: dict[PodKey, str] = {}

    async def follow(self, namespace: str | None) -> None:
        """Forever: list the namespace's driver pods (None: all namespaces), then watch."""
        failures = 0
        while True:
            try:
                version = await self._list(namespace)
                failures = 0
                while True:
                    version = await self._watch(namespace, version)
            except Gone:
                log.info("driver pod watch in %s expired; listing again", namespace or "*")
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("driver pod watch in %s failed; retrying in %ss", namespace or "*",
                            delay, exc_info=True)  # fmt: skip
                await asyncio.sleep(delay)

    async def _request(self, namespace: str | None, **params: Any) -> Any:
        params.update(label_selector=SELECTOR, _preload_content=False)
        if namespace is None:
            return await self._core.list_pod_for_all_namespaces(**params)
        return await self._core.list_namespaced_pod(namespace, **params)

    async def _list(self, namespace: str | None) -> str:
        listing = json.loads(await raw(self._request(namespace)))
        before = {k for k in self.drivers if namespace is None or k[0] == namespace}
        for pod in listing["items"]:
            before.discard(self._seen("ADDED", pod))
        for key in before:  # deleted while we were not watching
            del self.drivers[key]
            self._on_change((key[0], self._jobs.pop(key)))
        version: str = listing["metadata"]["resourceVersion"]
        return version

    async def _watch(self, namespace: str | None, version: str) -> str:
        response = await self._request(
            namespace, watch=True, resource_version=version, allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS, _request_timeout=(10, WATCH_SECONDS + 30),
        )  # fmt: skip
        async with response:
            if response.status >= 400:
                raise RuntimeError(f"watching driver pods: HTTP {response.status}")
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone
                    raise RuntimeError(f"watching driver pods: {obj.get('message')}")
                version = obj["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self._seen(event["type"], obj)
        return version

    def _seen(self, kind: str, pod: dict[str, Any]) -> PodKey:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        job = meta["labels"][LABEL_JOB]
        if kind == "DELETED":
            self.drivers.pop(key, None)
            self._jobs.pop(key, None)
        else:
            self.drivers[key] = observe_driver(pod)
            self._jobs[key] = job
        self._on_change((key[0], job))
        return key
