"""The work queue's promises: one wait per key, never two workers on one key, a key added
during its work runs once more after it, and only a key's earliest moment counts."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from helix_batch.operator.workqueue import WorkQueue


def test_a_key_added_many_times_waits_once() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a", "b", "c"):
            queue.add(key)
        return [await queue.get() for _ in range(3)]

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_a_key_added_during_its_work_runs_again_after_and_never_concurrently() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        log: list[str] = []
        running: set[str] = set()

        async def worker() -> None:
            while True:
                key = await queue.get()
                assert key not in running, "two workers on one key"
                running.add(key)
                log.append(key)
                if log.count(key) == 1:
                    queue.add(key)  # a change arrives while the key is in work
                    queue.add(key)
                await asyncio.sleep(0.01)
                running.discard(key)
                queue.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(4)]
        queue.add("a")
        queue.add("b")
        await asyncio.sleep(0.2)
        for w in workers:
            w.cancel()
        return log

    log = asyncio.run(scenario())
    assert sorted(log) == ["a", "a", "b", "b"]  # once more each, not twice more


def test_delayed_keys_come_in_order_of_their_earliest_moment() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        pump = asyncio.create_task(queue.release_due())
        now = asyncio.get_running_loop().time()
        queue.add_at("late", now + 0.15)
        queue.add_at("soon", now + 0.30)
        queue.add_at("soon", now + 0.05)  # earlier: this one counts
        queue.add_at("late", now + 0.50)  # later than already due: ignored
        got = [await queue.get(), await queue.get()]
        done_at = asyncio.get_running_loop().time() - now
        pump.cancel()
        assert done_at < 0.45, "the later moment of 'late' must not have counted"
        return got

    assert asyncio.run(scenario()) == ["soon", "late"]


def test_a_failed_key_comes_back_later_after_each_failure_until_forgotten() -> None:
    async def scenario() -> list[float]:
        queue: WorkQueue[str] = WorkQueue("retries", retry_base_seconds=0.1)
        pump = asyncio.create_task(queue.release_due())
        loop = asyncio.get_running_loop()
        waits = []
        for failures in (1, 2, 3, 1):
            if failures == 1:
                queue.forget("k")
            start = loop.time()
            queue.add_after_failure("k")
            queue.done(await queue.get())
            waits.append(loop.time() - start)
        pump.cancel()
        return waits

    waits = asyncio.run(scenario())
    for wait, expected in zip(waits, (0.1, 0.2, 0.4, 0.1), strict=True):
        assert expected <= wait < expected + 0.09, waits
    assert sample("workqueue_retries_total", "retries") == 4


def test_depth_adds_and_waits_are_metrics() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue("depth")
        for key in ("a", "b", "a"):
            queue.add(key)
        assert sample("workqueue_depth", "depth") == 2
        assert sample("workqueue_adds_total", "depth") == 2  # "a" waited once
        await asyncio.sleep(0.05)
        await queue.get()
        assert sample("workqueue_depth", "depth") == 1

    asyncio.run(scenario())
    assert sample("workqueue_queue_duration_seconds_count", "depth") == 1
    assert sample("workqueue_queue_duration_seconds_sum", "depth") >= 0.05


def sample(metric: str, queue: str) -> float:
    value = REGISTRY.get_sample_value(metric, {"name": queue})
    assert value is not None, metric
    return value


def test_settled_waits_until_no_key_waits_or_is_in_work_but_not_past_its_deadline() -> None:
    async def scenario() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        queue: WorkQueue[str] = WorkQueue()
        started = loop.time()
        await queue.settled(started + 5)  # nothing to give way to
        idle_wait = loop.time() - started

        queue.add("a")
        queue.add("b")

        async def work_off() -> None:
            await asyncio.sleep(0.1)
            for _ in range(2):
                key = await queue.get()
                await asyncio.sleep(0.05)
                queue.done(key)

        worker = asyncio.create_task(work_off())
        started = loop.time()
        await queue.settled(started + 5)
        busy_wait = loop.time() - started  # a and b: 0.1 s, then 0.05 s each
        await worker

        queue.add("c")  # never worked off: the deadline ends the wait
        started = loop.time()
        await queue.settled(started + 0.2)
        return idle_wait, busy_wait, loop.time() - started

    idle_wait, busy_wait, deadline_wait = asyncio.run(scenario())
    assert idle_wait < 0.05
    assert 0.2 <= busy_wait < 1.0
    assert 0.2 <= deadline_wait < 1.0
