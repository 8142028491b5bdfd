"""Kubernetes Events on HelixBatchJobs, posted in the background by one task, as client-go's
event recorder does: a reconcile never waits for its Events, and while reconciles are waiting
(a burst) an Event gives way to them, as a phase label does (phase_label.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from helix_batch.operator.kube import raw
from helix_batch.operator.lifecycle import format_time
from helix_batch.operator.workqueue import GIVE_WAY_SECONDS, GiveWay, no_wait

log = logging.getLogger(__name__)
COMPONENT = "helix-operator"
MAX_MESSAGE = 1024


class EventRecorder:
    def __init__(self, api_client: client.ApiClient, give_way: GiveWay = no_wait) -> None:
        self._core = client.CoreV1Api(api_client)
        self._give_way = give_way
        self._queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

    def emit(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        now = format_time(datetime.now(UTC))
        self._queue.put_nowait((asyncio.get_running_loop().time(), {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta["uid"],
            },
            "type": type_, "reason": reason, "message": message[:MAX_MESSAGE],
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }))  # fmt: skip

    async def post_forever(self) -> None:
        while True:
            since, event = await self._queue.get()
            await self._give_way(since + GIVE_WAY_SECONDS)
            try:
                await raw(
                    self._core.create_namespaced_event(
                        event["metadata"]["namespace"],
                        event,  # type: ignore[arg-type]  # a dict serializes like the model
                        _preload_content=False,
                    )
                )
            except Exception as err:  # an Event is worth a log line, not a retry loop
                reason = err.reason if isinstance(err, ApiException) else repr(err)
                log.warning("could not post event %s: %s", event["reason"], reason)
