"""The work queue's promises: one wait per key, never two workers on one key, a key added
during its work runs once more after it, and only a key's earliest moment counts."""

from __future__ import annotations

import asyncio

from helix_batch.workqueue import WorkQueue


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
