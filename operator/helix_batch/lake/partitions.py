"""Finding a dataset's day partitions and what one day folder holds, by prefix listings.

Days are found level by level (``year=``, ``month=``, ``day=`` folders with the '/'
delimiter, pruned by the range: ``layout.present_days``, as the Spark jobs' reader does), so a
date range costs a listing per partition present, never a scan of the bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from helix_batch.lake.errors import NotFound
from helix_batch.lake.paths import dataset_prefix, day_prefix, manifest_key
from helix_batch.lake.storage import ObjectInfo, Storage
from helix_jobs import layout
from helix_jobs.records import Dataset


def list_days(
    storage: Storage, dataset: Dataset, start: date | None = None, end: date | None = None
) -> Iterator[date]:
    """The days (ascending) that have a partition folder, optionally within [start, end]."""
    root = dataset_prefix(dataset)

    def names(path: str) -> list[str]:
        return [f.removeprefix(root + path).removesuffix("/") for f in storage.folders(root + path)]

    return layout.present_days(names, start or date.min, end or date.max)


@dataclass(frozen=True)
class DayState:
    """One day folder: its objects by name (relative to the folder) and its manifest."""

    dataset: Dataset
    day: date
    objects: dict[str, ObjectInfo]
    manifest: layout.Manifest | None

    @property
    def names(self) -> list[str]:
        return list(self.objects)

    def files(self) -> layout.DayFiles:
        return layout.select(self.objects, self.manifest, self.dataset.file_prefix)

    def raw_names(self) -> list[str]:
        """Every raw-looking file present, replaced or not."""
        prefix = self.dataset.file_prefix
        return [
            n for n in self.objects if "/" not in n and n.startswith(prefix) and n.endswith(".json")
        ]

    def unlisted_compacted(self) -> list[str]:
        """Files under _compacted/ the manifest does not list: staged or superseded."""
        live = {f.name for f in self.manifest.files} if self.manifest else set()
        return [
            n for n in self.objects if n.startswith(layout.COMPACTED_DIR + "/") and n not in live
        ]

    def leftover_replaced(self) -> list[str]:
        """Raw originals the manifest says are replaced but that still exist."""
        replaced = self.manifest.replaced if self.manifest else frozenset()
        return [n for n in self.raw_names() if n in replaced]


def load_day(storage: Storage, dataset: Dataset, day: date) -> DayState:
    prefix = day_prefix(dataset, day)
    objects = {info.key[len(prefix) :]: info for info in storage.list(prefix)}
    manifest = None
    if layout.MANIFEST_NAME in objects:
        try:
            manifest = layout.Manifest.from_json(storage.get(manifest_key(dataset, day)))
        except NotFound:  # removed between the listing and the read (retention)
            manifest = None
        objects.pop(layout.MANIFEST_NAME, None)
    return DayState(dataset, day, objects, manifest)
