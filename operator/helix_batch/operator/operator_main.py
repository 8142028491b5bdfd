"""``helix-operator``: leader election, health and metrics endpoints, then kopf."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import kopf
from aiohttp import web
from kubernetes_asyncio import client, config
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from helix_batch.operator import policy
from helix_batch.operator.settings import Settings, SettingsError, variable

log = logging.getLogger("helix_batch.operator")
LEASE_NAME = "helix-batch-operator"
LOG_LEVEL = "HELIX_LOG_LEVEL"


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
        # A standby is ready too, to take over the lease, but only while it can read it.
        if state["leader"]:
            return web.Response(text="leader")
        if state["lease_readable"]:
            return web.Response(text="standby")
        return web.Response(status=503, text=f"cannot read the Lease {LEASE_NAME}")

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


async def _run(settings: Settings, namespace: str) -> None:
    await _load_kube_config()
    state = {"leader": False, "lease_readable": False}
    runner = await _serve_probes(settings, state)
    identity = os.environ.get("POD_NAME", socket.gethostname()) + f"-{os.getpid()}"
    elected = asyncio.Event()
    loop = asyncio.get_running_loop()

    def lease_read(ok: bool) -> None:
        state["lease_readable"] = ok

    threading.Thread(
        target=_elect,
        args=(
            settings, namespace, identity, lambda: loop.call_soon_threadsafe(elected.set),
            lease_read,
        ),
        name="leader-election",
        daemon=True,
    ).start()  # fmt: skip
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


class _ObservedLeaseLock(LeaseLock):
    """A LeaseLock that reports whether each read of the Lease succeeded."""

    def __init__(self, *args: Any, on_read: Callable[[bool], None]) -> None:
        super().__init__(*args)
        self.on_read = on_read

    async def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        found, record = await super().get(name, namespace)
        self.on_read(bool(found))
        return found, record


def _elect(
    settings: Settings,
    namespace: str,
    identity: str,
    on_elected: Callable[[], None],
    on_read: Callable[[bool], None],
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
                    _ObservedLeaseLock(
                        LEASE_NAME, namespace, identity, api_client, on_read=on_read
                    ),
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


def lease_namespace(env: Mapping[str, str], settings: Settings) -> str:
    """Where the Lease lives: POD_NAMESPACE, or else the one namespace the operator serves."""
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    if len(settings.namespaces) == 1:
        return settings.namespaces[0]
    raise SettingsError(
        "POD_NAMESPACE is not set: set it to the namespace of the operator's Lease "
        f"({LEASE_NAME}; in a pod, from the downward API's metadata.namespace)"
    )


def _log_level(env: Mapping[str, str]) -> str:
    level = env.get(LOG_LEVEL, "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise SettingsError(f"{LOG_LEVEL}: expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return level


def _arguments() -> argparse.ArgumentParser:
    defaults = Settings()
    settings = [
        f"  {variable(f.name):<38} {_shown(getattr(defaults, f.name))}" for f in fields(Settings)
    ]
    return argparse.ArgumentParser(
        prog="helix-operator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The helix-batch operator: runs each HelixBatchJob as Kubeflow "
        "SparkApplications, follows its driver pod and writes the job's status. It takes no "
        "arguments: it reads the Kubernetes configuration (in-cluster, or KUBECONFIG) and the "
        "environment variables below, elects a leader through the Lease "
        f"{LEASE_NAME} in POD_NAMESPACE, and serves /metrics, /healthz and /readyz.",
        epilog="settings (environment variable, default; see docs/reference.md):\n"
        + "\n".join(settings)
        + f"\n  {LOG_LEVEL:<38} INFO"
        + f"\n  {'POD_NAMESPACE':<38} the one namespace of HELIX_NAMESPACES, if only one"
        + f"\n  {'POD_NAME':<38} the host name (the leader's identity)",
    )


def _shown(default: object) -> str:
    return (",".join(default) if isinstance(default, tuple) else str(default)) or "(empty)"


def main(argv: Sequence[str] | None = None) -> None:
    _arguments().parse_args(argv)  # --help prints the settings and exits
    try:
        settings = Settings.from_env()
        namespace = lease_namespace(os.environ, settings)
        level = _log_level(os.environ)
        policy.load(settings)
    except (SettingsError, policy.PolicyError) as err:
        print(f"helix-operator: {err}", file=sys.stderr)
        sys.exit(2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    # Imported only now, with the settings known to be valid: the import registers the kopf
    # handlers, which read the same settings.
    from helix_batch.operator import handlers

    asyncio.run(_run(handlers.SETTINGS, namespace))


if __name__ == "__main__":
    main()
