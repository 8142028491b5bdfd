from __future__ import annotations

import pytest

from helix_batch.settings import Settings


def test_settings_from_environment() -> None:
    s = Settings.from_env(
        {
            "HELIX_NAMESPACES": "analytics, nightly,,",
            "HELIX_BACKOFF_LIMIT": "5",
            "HELIX_WORKERS": "3",
            "HELIX_SPARK_IMAGE": "registry.example/spark:9",
            "UNRELATED": "x",
        }
    )
    assert s.namespaces == ("analytics", "nightly")
    assert s.backoff_limit == 5
    assert s.workers == 3
    assert s.spark_image == "registry.example/spark:9"
    assert s.start_deadline_seconds == Settings().start_deadline_seconds


def test_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="HELIX_BACKOFF_LIMIT"):
        Settings.from_env({"HELIX_BACKOFF_LIMIT": "many"})
