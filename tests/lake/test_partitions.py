"""The lake library finds day partitions as the Spark reader does (``layout.present_days``):
pruned by the range, and only folders in the writers' form, on a local directory and on S3."""

from __future__ import annotations

from datetime import date

import pytest

from helix_batch.lake.partitions import list_days
from helix_batch.lake.storage import Storage
from tests.lake.helpers import CONV

D = date
DAYS = (D(2024, 2, 29), D(2025, 12, 31), D(2026, 1, 1), D(2026, 1, 2), D(2026, 3, 1))
NOT_PARTITIONS = (
    "year=2026x/month=01/day=05",
    "year=26/month=01/day=05",
    "year=2026/month=13/day=05",
    "year=2026/month=1/day=05",
    "year=2026/month=01/day=5",
    "year=2026/month=02/day=30",
    "year=2026/month=01/day=32",
    "_temporary/year=2026/month=01/day=05",
)


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        (None, None, DAYS),
        (D(2000, 1, 1), D(2100, 12, 31), DAYS),
        (D(2025, 12, 31), D(2026, 1, 1), (D(2025, 12, 31), D(2026, 1, 1))),
        (D(2026, 1, 2), D(2026, 1, 2), (D(2026, 1, 2),)),
        (D(2026, 1, 3), D(2026, 2, 28), ()),
        (D(2024, 2, 29), D(2024, 2, 29), (D(2024, 2, 29),)),
        (D(2026, 3, 2), None, ()),
    ],
)
def test_list_days_finds_the_partitions_of_the_range_and_no_other_folder(
    storage: Storage, start: date | None, end: date | None, want: tuple[date, ...]
) -> None:
    for day in DAYS:
        storage.put(
            f"{CONV.name}/year={day:%Y}/month={day:%m}/day={day:%d}/conversation_a.json", b"{}"
        )
    for folder in NOT_PARTITIONS:
        storage.put(f"{CONV.name}/{folder}/conversation_b.json", b"{}")
    assert tuple(list_days(storage, CONV, start, end)) == want
