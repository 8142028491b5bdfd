"""The lake at real latency: SeaweedFS behind toxiproxy, side by side in one run.

    .venv/bin/python bench/bench_lake_latency.py [--rtt-ms 0 5 20] [--records 1000]
        [--delete-keys 3000] [--repeat 3] [--variants NAME...] [--json]

The kernel here has no netem qdisc, so the latency is toxiproxy's (v2.5.0, built from its Go
module by bench/build_toxiproxy.sh): one TCP proxy per round trip in front of SeaweedFS's S3
port, with a latency toxic of half the round trip on each direction (0 ms is the direct port).
The added round trip is checked first: the median of a small GET through each proxy minus the
same request direct.

At each round trip, in the same round, with the lake's own knobs (``concurrency``, ``batch``):

1. archive: ``DataLake.archive_many`` with 32 in flight vs one record at a time, and both
   again with botocore's ``Expect: 100-continue`` on every PUT (the lake before 363a757);
2. retention: ``retain`` deleting expired partitions in DeleteObjects batches of 1000 (32 in
   flight, 4 partitions at a time) vs one key per request, one at a time (the keys are written
   direct, not timed), and batched with one partition at a time (the lake before c143f04).

Prints medians of --repeat rounds and the ratios, and where the time goes: each variant's S3
requests (counted on the client, by operation) and the CPU seconds the client, SeaweedFS and
toxiproxy spent during it (from /proc). Numbers: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_lake import conversations
from bench.cpu import cpu_seconds
from helix_batch.lake import retention as lake_retention
from helix_batch.lake.client import DataLake
from helix_batch.lake.compaction import utc_today
from helix_batch.lake.paths import day_prefix
from helix_batch.lake.retention import RetentionRules, retain
from helix_batch.lake.s3_settings import S3Settings
from helix_batch.lake.s3_storage import S3Storage, no_expect_for_small_bodies
from helix_jobs import records
from tests.fixtures.s3 import S3Server, free_ports, start_seaweedfs, stop_seaweedfs

CONCURRENCY = 32
BUILD = Path(__file__).resolve().parent / "build_toxiproxy.sh"
PROBE_REQUESTS = 100
DAYS = 5  # retention's expired partitions


# -- toxiproxy ------------------------------------------------------------------------------


@dataclass
class Toxiproxy:
    api: str
    process: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 - loopback http
            self.api + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read() or b"null")

    def proxy(self, name: str, upstream: str, rtt_ms: int) -> str:
        """A proxy to upstream adding rtt_ms per round trip; returns its host:port."""
        (port,) = free_ports(1)
        listen = f"127.0.0.1:{port}"
        self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream})
        # The toxic delays each chunk by `latency` from when it arrived, so chunks pipeline:
        # a request pays the upstream half once and its response the downstream half.
        for stream, ms in (("upstream", rtt_ms // 2), ("downstream", rtt_ms - rtt_ms // 2)):
            self.call(
                "POST",
                f"/proxies/{name}/toxics",
                {
                    "name": f"latency_{stream}",
                    "type": "latency",
                    "stream": stream,
                    "toxicity": 1.0,
                    "attributes": {"latency": ms, "jitter": 0},
                },
            )
        return listen


def start_toxiproxy(workdir: Path) -> Toxiproxy:
    binary = subprocess.run(
        ["bash", str(BUILD)], check=True, capture_output=True, text=True
    ).stdout.strip()
    (port,) = free_ports(1)
    log = open(workdir / "toxiproxy.log", "wb")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        [binary, "-host", "127.0.0.1", "-port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(api + "/version", timeout=2),  # noqa: S310 - loopback
        ):
            return Toxiproxy(api, process)
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"toxiproxy did not answer on {api}")


def stop_toxiproxy(proxy: Toxiproxy) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proxy.process.pid, signal.SIGTERM)
    proxy.process.wait(timeout=15)


# -- the lake through an endpoint -----------------------------------------------------------


def counted_storage(
    server: S3Server, endpoint: str, bucket: str, prefix: str, concurrency: int
) -> tuple[S3Storage, Counter[str]]:
    """A storage at endpoint and a live count of the S3 requests it sends, by operation."""
    settings = S3Settings(endpoint, server.region, server.access_key, server.secret_key)
    storage = S3Storage(bucket, prefix, settings, concurrency)
    sent: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        sent[model.name] += 1

    storage.client.meta.events.register("before-call.s3", count)
    return storage, sent


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


OTHER_PROCESSES: dict[str, int] = {}  # name -> pid, whose CPU time is measured with ours


def measured(fn: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    """Wall seconds of fn, and the CPU seconds this process and the others spent meanwhile."""
    before = {name: cpu_seconds(pid) for name, pid in OTHER_PROCESSES.items()}
    client = time.process_time()
    seconds = timed(fn)
    cpu = {"client": time.process_time() - client}
    cpu.update({name: cpu_seconds(pid) - before[name] for name, pid in OTHER_PROCESSES.items()})
    return seconds, cpu


def probe_ms(server: S3Server, endpoints: dict[int, str], bucket: str) -> dict[int, float]:
    """Median milliseconds of a small GET (a 2-byte object) on a warm connection, per endpoint.

    The endpoints take turns, so the machine's load of the moment weighs on each alike.
    """
    stores = {}
    for rtt, endpoint in endpoints.items():
        stores[rtt], _ = counted_storage(server, endpoint, bucket, "probe", 1)
    stores[0].put("small", b"ok")
    samples: dict[int, list[float]] = {rtt: [] for rtt in stores}
    for round_no in range(PROBE_REQUESTS + 1):
        for rtt, store in stores.items():
            seconds = timed(partial(store.get, "small"))
            if round_no:  # the first opens the connection
                samples[rtt].append(seconds * 1000)
    for store in stores.values():
        store.close()
    return {rtt: statistics.median(ms) for rtt, ms in samples.items()}


@dataclass
class Result:
    seconds: float
    items: int
    requests: Counter[str]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def archive(
    server: S3Server, endpoint: str, bucket: str, docs: list[Any], conc: int, expect: bool = False
) -> Result:
    """expect: every PUT waits for "100 Continue" (botocore's default, the lake's before 18.4)."""
    storage, sent = counted_storage(server, endpoint, bucket, new_prefix(), conc)
    if expect:
        storage.client.meta.events.unregister(
            "before-sign.s3.PutObject", no_expect_for_small_bodies
        )
    lake = DataLake(storage)
    seconds, cpu = measured(lambda: lake.archive_many(records.CONVERSATIONS, docs))
    sent = Counter(sent)  # the timed requests, not the check below
    assert sum(1 for _ in storage.list("conversations/")) == len(docs)
    storage.close()
    return Result(seconds, len(docs), sent, cpu)


def retention(
    server: S3Server,
    endpoint: str,
    bucket: str,
    count: int,
    conc: int,
    batch: int,
    partitions: int = lake_retention.PARTITIONS_AT_ONCE,
) -> Result:
    prefix = new_prefix()
    seeder, _ = counted_storage(server, server.endpoint, bucket, prefix, CONCURRENCY)
    old = utc_today() - timedelta(days=400)
    days = [old - timedelta(days=i) for i in range(DAYS)]
    seeder.put_many(
        (f"{day_prefix(records.CONVERSATIONS, days[i % DAYS])}conversation_k{i}.json", b"{}")
        for i in range(count)
    )
    storage, sent = counted_storage(server, endpoint, bucket, prefix, conc)
    rules = RetentionRules({"conversations": 30}, floor_days=7)
    with mock.patch.object(lake_retention, "PARTITIONS_AT_ONCE", partitions):
        seconds, cpu = measured(lambda: retain(storage, rules, batch=batch))
    sent = Counter(sent)
    assert not list(seeder.list("conversations/")), "retention left keys behind"
    storage.close()
    seeder.close()
    return Result(seconds, count, sent, cpu)


def new_prefix() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


# -- the run --------------------------------------------------------------------------------

VARIANTS: dict[str, Callable[[S3Server, str, str, Any], Result]] = {
    "archive_concurrent": lambda s, e, b, a: archive(s, e, b, a.docs, CONCURRENCY),
    "archive_sequential": lambda s, e, b, a: archive(s, e, b, a.docs, 1),
    "archive_concurrent_100c": lambda s, e, b, a: archive(s, e, b, a.docs, CONCURRENCY, True),
    "archive_sequential_100c": lambda s, e, b, a: archive(s, e, b, a.docs, 1, True),
    "retention_batched": lambda s, e, b, a: retention(s, e, b, a.delete_keys, CONCURRENCY, 1000),
    "retention_one_key": lambda s, e, b, a: retention(s, e, b, a.delete_keys, 1, 1),
    "retention_batched_serial": lambda s, e, b, a: retention(
        s, e, b, a.delete_keys, CONCURRENCY, 1000, partitions=1
    ),
}


RATIOS = {  # ratio: the lake's way, the baseline, the table's heading
    "archive": (
        "archive_concurrent",
        "archive_sequential",
        "archive rec/s: 32 in flight / one at a time = ratio",
    ),
    "archive_100c": (
        "archive_concurrent_100c",
        "archive_sequential_100c",
        "the same with 100-continue",
    ),
    "retention": (
        "retention_batched",
        "retention_one_key",
        "retention keys/s: batched / one key per request = ratio",
    ),
    "retention_serial": (
        "retention_batched_serial",
        "retention_one_key",
        "the same, one partition at a time",
    ),
}


def rounds(
    server: S3Server, endpoints: dict[int, str], bucket: str, args: Any
) -> Iterator[tuple[int, str, Result]]:
    for round_no in range(args.repeat):
        for rtt, endpoint in endpoints.items():
            for name in args.variants:
                result = VARIANTS[name](server, endpoint, bucket, args)
                print(
                    f"round {round_no + 1} rtt {rtt:2d} ms {name:20s} {result.seconds:7.2f} s "
                    f"{result.rate:8.0f}/s {sum(result.requests.values()):6d} requests",
                    file=sys.stderr,
                    flush=True,
                )
                yield rtt, name, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt-ms", type=int, nargs="+", default=[0, 5, 20])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--delete-keys", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    args.docs = conversations(args.records, date(2026, 1, 1))
    workdir = Path(tempfile.mkdtemp(prefix="helix-bench-latency-"))
    server = start_seaweedfs(workdir)
    toxiproxy = None
    try:
        toxiproxy = start_toxiproxy(workdir)
        assert server.process is not None
        OTHER_PROCESSES.update(seaweedfs=server.process.pid, toxiproxy=toxiproxy.process.pid)
        bucket = server.create_bucket("helix-bench-latency")
        upstream = server.endpoint.removeprefix("http://")
        endpoints = {
            rtt: server.endpoint
            if rtt == 0
            else "http://" + toxiproxy.proxy(f"s3_rtt_{rtt}ms", upstream, rtt)
            for rtt in args.rtt_ms
        }
        proxy_only = "http://" + toxiproxy.proxy("s3_rtt_0ms", upstream, 0)
        # -1: through a proxy with 0 ms toxics, what the proxy itself adds
        probes = probe_ms(server, {0: server.endpoint, -1: proxy_only, **endpoints}, bucket)
        results: dict[int, dict[str, list[Result]]] = {rtt: {} for rtt in endpoints}
        for rtt, name, result in rounds(server, endpoints, bucket, args):
            results[rtt].setdefault(name, []).append(result)
    finally:
        if toxiproxy is not None:
            stop_toxiproxy(toxiproxy)
        stop_seaweedfs(server)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, probes, results)


def report(
    args: Any, probes: dict[int, float], results: dict[int, dict[str, list[Result]]]
) -> None:
    direct = probes[0] if 0 in probes else float("nan")
    table = {}
    for rtt, by_name in results.items():
        row: dict[str, Any] = {"probe_ms": probes[rtt], "added_rtt_ms": probes[rtt] - direct}
        for name, runs in by_name.items():
            row[name] = {
                "rate": statistics.median(r.rate for r in runs),
                "seconds": statistics.median(r.seconds for r in runs),
                "requests": dict(runs[0].requests),
                "cpu": {k: statistics.median(r.cpu[k] for r in runs) for k in runs[0].cpu},
            }
        for ratio, (fast, slow, _) in RATIOS.items():
            if fast in row and slow in row:
                row[f"{ratio}_ratio"] = row[fast]["rate"] / row[slow]["rate"]
        table[rtt] = row
    if args.json:
        print(json.dumps({"records": args.records, "delete_keys": args.delete_keys,
                          "repeat": args.repeat, "proxy_only_probe_ms": probes[-1], "table": table}, indent=1))  # fmt: skip
        return
    print(
        f"SeaweedFS behind toxiproxy v2.5.0, medians of {args.repeat} rounds; "
        f"archive {args.records} records, retention {args.delete_keys} keys in {DAYS} partitions"
    )
    print(
        f"small GET direct {direct:.2f} ms, through the proxy with no latency toxic "
        f"{probes[-1]:.2f} ms"
    )
    ran = [(ratio, *names) for ratio, names in RATIOS.items() if {*names[:2]} <= {*args.variants}]
    print("rtt  | small GET (added) | " + " | ".join(head for *_, head in ran))
    for rtt, row in table.items():
        cells = [
            f"{row[fast]['rate']:6.0f} / {row[slow]['rate']:5.0f} = {row[f'{ratio}_ratio']:5.1f}x"
            for ratio, fast, slow, _ in ran
        ]
        probe = f"{row['probe_ms']:5.2f} ms ({row['added_rtt_ms']:+5.2f})"
        print(f"{rtt:2d} ms | {probe} | " + " | ".join(cells))
    print("where the time goes: wall s; CPU s of the client, SeaweedFS, toxiproxy (medians);")
    print("S3 requests (first round)")
    for rtt, row in table.items():
        for name in args.variants:
            requests, cpu = row[name]["requests"], row[name]["cpu"]
            detail = ", ".join(f"{op} {n}" for op, n in sorted(requests.items()))
            print(
                f"  {rtt:2d} ms {name:20s} {row[name]['seconds']:6.2f} s; CPU "
                f"{cpu['client']:5.2f} + {cpu['seaweedfs']:5.2f} + {cpu['toxiproxy']:5.2f} s; "
                f"{sum(requests.values()):5d} requests: {detail}"
            )


if __name__ == "__main__":
    main()
