from __future__ import annotations

import pytest

from helix_batch.operator.settings import Settings, SettingsError


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


@pytest.mark.parametrize(
    ("variable", "raw"),
    [("HELIX_WORKERS", "0"), ("HELIX_LEASE_SECONDS", "-5"), ("HELIX_BACKOFF_LIMIT", "-1"),
     ("HELIX_START_DEADLINE_SECONDS", "1.5"), ("HELIX_METRICS_PORT", "65536")],
)  # fmt: skip
def test_numbers_that_make_no_sense_are_refused(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"^{variable}: expected a whole number .*got '{raw}'$"):
        Settings.from_env({variable: raw})


def test_numbers_at_their_bounds_are_taken() -> None:
    s = Settings.from_env({"HELIX_WORKERS": "1", "HELIX_BACKOFF_LIMIT": "0"})
    assert (s.workers, s.backoff_limit) == (1, 0)
