"""``helix-operator``: leader election, health and metrics endpoints, then kopf."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable

import kopf
from aiohttp import web
from kubernetes_asyncio import client, config
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from helix_batch import handlers
from helix_batch.settings import Settings

log = logging.getLogger("helix_batch.operator")
LEASE_NAME = "helix-batch-operator"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                **({"error": self.formatException(record.exc_info)} if record.exc_info else {}),
            }
        )


async def _load_kube_config() -> None:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config()


async def _serve_probes(settings: Settings, state: dict[str, bool]) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        # A standby replica is ready too: it is ready to take over the lease.
        return web.Response(text="leader" if state["leader"] else "standby")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", settings.metrics_port).start()  # noqa: S104
    return runner


async def _run(settings: Settings) -> None:
    await _load_kube_config()
    state = {"leader": False}
    runner = await _serve_probes(settings, state)
    namespace = os.environ.get("POD_NAMESPACE", "default")
    identity = os.environ.get("POD_NAME", socket.gethostname()) + f"-{os.getpid()}"
    elected = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_elect,
        args=(settings, namespace, identity, lambda: loop.call_soon_threadsafe(elected.set)),
        name="leader-election",
        daemon=True,
    ).start()
    await elected.wait()
    state["leader"] = True
    log.info("became leader as %s", identity)
    try:
        await kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=True,  # replicas coordinate through the Lease, not kopf peering
        )
    finally:
        await runner.cleanup()
    # Stopped by a signal: hand the lease over at once instead of letting it expire, and
    # exit without waiting for the election thread, which would go on renewing.
    async with client.ApiClient() as api_client:
        await _release(api_client, namespace, identity)
    os._exit(0)


def _elect(
    settings: Settings, namespace: str, identity: str, on_elected: Callable[[], None]
) -> None:
    """Leader election in a thread and event loop of its own: however busy the operator's
    loop gets, renewals are never late."""

    async def started() -> None:
        on_elected()

    async def lost() -> None:
        # Like client-go: a replica that lost the lease exits and starts over as a standby.
        log.error("lost leadership; exiting")
        os._exit(1)

    async def run() -> None:
        async with client.ApiClient() as api_client:
            election = leaderelection.LeaderElection(
                electionconfig.Config(
                    LeaseLock(LEASE_NAME, namespace, identity, api_client),
                    lease_duration=settings.lease_seconds,
                    renew_deadline=settings.lease_seconds * 2 / 3,
                    retry_period=max(1.0, settings.lease_seconds / 5),
                    onstarted_leading=started,
                    onstopped_leading=lost,
                )
            )
            await election.run()

    asyncio.run(run())


async def _release(api_client: client.ApiClient, namespace: str, identity: str) -> None:
    leases = client.CoordinationV1Api(api_client)
    lease = await leases.read_namespaced_lease(LEASE_NAME, namespace)
    if lease.spec.holder_identity == identity:
        lease.spec.holder_identity = None  # type: ignore[assignment]
        await leases.replace_namespaced_lease(LEASE_NAME, namespace, lease)


def main() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=os.environ.get("HELIX_LOG_LEVEL", "INFO"), handlers=[handler])
    assert handlers.SETTINGS is not None  # registers the kopf handlers on import
    asyncio.run(_run(handlers.SETTINGS))


if __name__ == "__main__":
    main()
