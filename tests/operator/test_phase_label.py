"""The phase label lane: only a job's latest phase is written, a phase wanted while a write is in
flight is written after it, and a failed write is retried without going back in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from helix_batch.operator.names import LABEL_PHASE
from helix_batch.operator.phase_label import PhaseLabels
from helix_batch.operator.workqueue import WorkQueue


class LabelApi:
    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.writes: list[tuple[str, str]] = []  # (job name, phase), in the order they landed
        self.fail_first = fail_first
        self.delay = delay
        self.writing = asyncio.Event()

    async def set_job_label(self, namespace: str, name: str, key: str, value: str) -> None:
        assert key == LABEL_PHASE
        self.writing.set()
        await asyncio.sleep(self.delay)
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("the API server is unavailable")
        self.writes.append((name, value))


def run(api: LabelApi, scenario: Callable[[PhaseLabels], Awaitable[None]]) -> None:
    async def main() -> None:
        labels = PhaseLabels(api, retry_seconds=0.05)  # type: ignore[arg-type]  # label calls only
        tasks = [asyncio.create_task(w) for w in labels.work()]
        try:
            await scenario(labels)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.01)


def test_only_the_latest_phase_of_a_job_is_written() -> None:
    api = LabelApi()

    async def scenario(labels: PhaseLabels) -> None:
        for phase in ("Submitted", "Running", "Succeeded"):
            labels.set(("ns", "a"), phase)
        labels.set(("ns", "b"), "Submitted")
        await until(lambda: len(api.writes) == 2)
        await asyncio.sleep(0.1)

    run(api, scenario)
    assert sorted(api.writes) == [("a", "Succeeded"), ("b", "Submitted")]


def test_a_phase_wanted_during_a_write_is_written_after_it() -> None:
    api = LabelApi(delay=0.1)

    async def scenario(labels: PhaseLabels) -> None:
        labels.set(("ns", "a"), "Running")
        await api.writing.wait()
        labels.set(("ns", "a"), "Succeeded")
        await until(lambda: len(api.writes) == 2)

    run(api, scenario)
    assert api.writes == [("a", "Running"), ("a", "Succeeded")]


def test_a_failed_write_is_retried_unless_a_newer_phase_came() -> None:
    api = LabelApi(fail_first=2, delay=0.02)

    async def scenario(labels: PhaseLabels) -> None:
        labels.set(("ns", "a"), "Running")
        labels.set(("ns", "b"), "Running")
        await api.writing.wait()
        labels.set(("ns", "b"), "Failed")  # while b's first write is failing
        await until(lambda: len(api.writes) == 2)
        await asyncio.sleep(0.2)

    run(api, scenario)
    assert sorted(api.writes) == [("a", "Running"), ("b", "Failed")]


def test_a_label_gives_way_to_the_reconciles_until_they_are_done() -> None:
    api = LabelApi()
    jobs: WorkQueue[str] = WorkQueue()

    async def main() -> None:
        labels = PhaseLabels(api, retry_seconds=0.05, give_way=jobs.settled)  # type: ignore[arg-type]
        tasks = [asyncio.create_task(w) for w in labels.work()]
        try:
            jobs.add("a")  # a reconcile waits
            labels.set(("ns", "a"), "Running")
            await asyncio.sleep(0.2)
            assert api.writes == []
            key = await jobs.get()
            labels.set(("ns", "a"), "Succeeded")  # decided while in work: only this is written
            jobs.done(key)
            await until(lambda: len(api.writes) == 1)
            await asyncio.sleep(0.1)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    assert api.writes == [("a", "Succeeded")]
