"""The Dockerfiles, checked without building them (no Docker engine here) against the project's
own pins: pyspark's version and bundled Hadoop, requires-python, the paths the rendered
SparkApplication names, non-root users."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path, PurePosixPath

import pyspark
import pytest
from packaging.specifiers import SpecifierSet

from helix_batch.operator.render import MAIN_APPLICATION_FILE, SPARK_UID

from .manifests import REPO, container, find, overlay

IMAGES = REPO / "images"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""

    path: Path
    args: dict[str, str] = field(default_factory=dict)
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        df = cls(path)
        logical = ""
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#") or not line.strip():
                continue
            logical += line.rstrip().removesuffix("\\") + " "
            if not line.rstrip().endswith("\\"):
                op, _, rest = logical.strip().partition(" ")
                df.instructions.append((op.upper(), rest.strip()))
                logical = ""
        for op, rest in df.instructions:
            if op == "ARG" and "=" in rest:
                name, _, value = rest.partition("=")
                df.args.setdefault(name, value)
        return df

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m[1], m[0]), text)

    def all(self, op: str) -> list[str]:
        return [self.expand(rest) for o, rest in self.instructions if o == op]

    def stages(self) -> list[str]:
        return [rest.split()[0] for rest in self.all("FROM")]

    def final_user(self) -> str:
        return self.all("USER")[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.all("ENV"):
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                values[name] = value
        return values

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of every COPY and ADD, flags dropped."""
        out = []
        for op, rest in self.instructions:
            if op in ("COPY", "ADD"):
                words = [w for w in shlex.split(self.expand(rest)) if not w.startswith("--")]
                out.append((words[:-1], words[-1]))
        return out


@pytest.fixture(scope="module")
def spark() -> Dockerfile:
    return Dockerfile.read(IMAGES / "spark" / "Dockerfile")


@pytest.fixture(scope="module")
def operator() -> Dockerfile:
    return Dockerfile.read(IMAGES / "operator" / "Dockerfile")


def pinned(requirement_name: str) -> str:
    for group in PYPROJECT["project"]["optional-dependencies"].values():
        for req in group:
            name, sep, pin = str(req).partition("==")
            if name.strip() == requirement_name and sep:
                return pin.strip()
    raise AssertionError(f"{requirement_name} is not pinned with == in pyproject.toml")


def bundled_hadoop_version() -> str:
    jars = Path(pyspark.__file__).parent / "jars"
    (jar,) = jars.glob("hadoop-client-api-*.jar")
    return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")


# The Python 3 of each Debian release the Spark image may be based on.
DEBIAN_PYTHON = {"bookworm": "3.11"}


def test_spark_image_installs_the_pinned_pyspark_on_debian(spark: Dockerfile) -> None:
    """What tests/e2e/test_real_node.py builds (debootstrap + buildah) and runs is this file,
    so the base is one a Debian archive can make."""
    spark_version = pinned("pyspark")
    assert version("pyspark") == spark_version  # the venv's pyspark is the pinned one
    (base,) = spark.stages()
    image, _, tag = base.partition(":")
    assert image == "docker.io/library/debian"
    assert tag.removesuffix("-slim") in DEBIAN_PYTHON, base
    assert f"pyspark=={spark_version}" in " ".join(spark.all("RUN")).split()
    assert spark.env()["SPARK_HOME"] == "/opt/spark"


def test_hadoop_aws_matches_the_hadoop_pyspark_bundles(spark: Dockerfile) -> None:
    hadoop = bundled_hadoop_version()
    (download,) = [rest for rest in spark.all("RUN") if "https://" in rest]
    words = download.rstrip("; ").split()
    urls = [w for w in words if w.startswith("https://")]
    aws = [u for u in urls if "/hadoop-aws/" in u]
    assert aws == [
        f"https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/{hadoop}/hadoop-aws-{hadoop}.jar"
    ]
    assert any("/software/amazon/awssdk/bundle/" in u for u in urls)
    assert len(urls) == 2
    # Every download is pinned by its SHA-256 (the argument after it) and lands among Spark's
    # jars (the folder fetch.py runs in).
    for url in urls:
        checksum = words[words.index(url) + 1].rstrip(";")
        assert re.fullmatch(r"[0-9a-f]{64}", checksum), url
    assert "cd /opt/spark/jars;" in download


def test_spark_image_holds_the_entry_point_the_spark_application_names(spark: Dockerfile) -> None:
    main = PurePosixPath(MAIN_APPLICATION_FILE.removeprefix("local://"))
    assert main == PurePosixPath("/opt/helix/spark-jobs/run_job.py")
    placed: dict[PurePosixPath, Path] = {}
    for sources, destination in spark.copies():
        for source in sources:
            local = REPO / source
            if local.is_dir():
                for f in local.rglob("*"):
                    if f.is_file():
                        placed[PurePosixPath(destination) / f.relative_to(local).as_posix()] = f
    assert main in placed, sorted(map(str, placed))[:10]
    assert placed[main] == REPO / "spark-jobs" / "run_job.py"
    assert PurePosixPath("/opt/helix/spark-jobs/helix_jobs/main.py") in placed
    assert spark.env()["PYTHONPATH"] == "/opt/helix/spark-jobs"


def test_spark_image_runs_as_the_uid_of_the_rendered_pods(spark: Dockerfile) -> None:
    assert spark.final_user() == str(SPARK_UID) == "185"


def test_spark_python_satisfies_requires_python(spark: Dockerfile) -> None:
    """The jobs need requires-python; Spark must use an interpreter the image installs."""
    env = spark.env()
    python = env["PYSPARK_PYTHON"]
    assert env["PYSPARK_DRIVER_PYTHON"] == python
    assert python == "/opt/helix/python/bin/python"
    run = " ".join(spark.all("RUN"))
    assert "python3 -m venv /opt/helix/python;" in run
    release = spark.stages()[0].partition(":")[2].removesuffix("-slim")
    assert DEBIAN_PYTHON[release] in SpecifierSet(PYPROJECT["project"]["requires-python"])
    # The jobs' own dependency, at the project's pin.
    numpy = next(
        d for d in PYPROJECT["project"]["optional-dependencies"]["spark"] if d.startswith("numpy")
    )
    assert "/opt/helix/python/bin/pip install --no-cache-dir" in run
    assert numpy in [word.rstrip(";") for word in run.split()]


def test_operator_image_python_matches_requires_python(operator: Dockerfile) -> None:
    """Both stages on the Debian release the Spark image uses (tests/e2e/test_real_node.py
    builds and runs this file), whose Python 3 satisfies requires-python."""
    stages = operator.stages()
    assert stages and all(s == stages[0] for s in stages), stages
    image, _, tag = stages[0].partition(":")
    assert image == "docker.io/library/debian"
    release = tag.removesuffix("-slim")
    assert DEBIAN_PYTHON[release] in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert "python3 -m venv /opt/helix/venv;" in " ".join(operator.all("RUN"))
    assert operator.env()["PATH"].startswith("/opt/helix/venv/bin:")


def test_operator_image_contents(operator: Dockerfile) -> None:
    # The CRDs come with the wheel (package data), not from a copy of crds/ beside it.
    assert "HELIX_CRD_FILE" not in operator.env()
    copied = {PurePosixPath(dest): sources for sources, dest in operator.copies()}
    assert copied[PurePosixPath("operator")] == ["operator/"]
    assert not any("crds" in source for sources in copied.values() for source in sources)
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["helix_batch.operator"]
    assert sorted(data) == ["crds/helixbatchjob.yaml", "crds/helixbatchschedule.yaml"]
    assert all((REPO / "operator" / "helix_batch" / "operator" / f).is_file() for f in data)
    (entrypoint,) = operator.all("ENTRYPOINT")
    assert entrypoint == '["helix-operator"]'
    scripts = PYPROJECT["project"]["scripts"]
    assert {"helix-operator", "helixctl"} <= set(scripts)
    # The Deployment and the CronJob run this image's two console scripts.
    docs = overlay("production")
    deployment = find(docs, "Deployment", "helix-operator")
    cron = find(docs, "CronJob", "helix-lake-maintenance")
    assert container(deployment["spec"]["template"], "operator")["command"] == ["helix-operator"]
    maintain = container(cron["spec"]["jobTemplate"]["spec"]["template"], "maintain")
    assert maintain["command"] == ["helixctl"]


def test_operator_image_user_is_non_root_and_matches_the_pods(operator: Dockerfile) -> None:
    user, _, group = operator.final_user().partition(":")
    assert user.isdigit() and int(user) != 0, "a numeric non-root USER lets runAsNonRoot verify"
    for owner, template in (
        ("Deployment", find(overlay("production"), "Deployment")["spec"]["template"]),
        (
            "CronJob",
            find(overlay("production"), "CronJob")["spec"]["jobTemplate"]["spec"]["template"],
        ),
    ):
        ctx = template["spec"]["securityContext"]
        assert str(ctx["runAsUser"]) == user, owner
        assert str(ctx["runAsGroup"]) == group, owner


@pytest.mark.parametrize("name", ["operator", "spark"])
def test_build_context_ignores_the_rest_of_the_repository(name: str) -> None:
    """The context is the repository root; each Dockerfile's own ignore file keeps .venv out."""
    text = (IMAGES / name / "Dockerfile.dockerignore").read_text()
    ignore = [line.strip() for line in text.splitlines() if line.strip()[:1] not in ("", "#")]
    assert ignore[0] == "*"
    sources = {
        src.rstrip("/")
        for sources, _ in Dockerfile.read(IMAGES / name / "Dockerfile").copies()
        for src in sources
        if not src.startswith("https://")
    }
    assert sources <= {
        line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")
    }
