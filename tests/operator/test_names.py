"""The names module spells what the CRDs declare (group, version, kinds, plurals)."""

from __future__ import annotations

import yaml

from helix_batch.operator import names
from helix_batch.operator.crd import JOB_CRD, SCHEDULE_CRD


def test_names_are_the_crds() -> None:
    for path, kind, plural in (
        (JOB_CRD, names.KIND, names.PLURAL),
        (SCHEDULE_CRD, names.SCHEDULE_KIND, names.SCHEDULE_PLURAL),
    ):
        crd = yaml.safe_load(path.read_text())
        assert crd["metadata"]["name"] == f"{plural}.{names.GROUP}"
        assert crd["spec"]["group"] == names.GROUP
        assert (crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]) == (kind, plural)
        assert [v["name"] for v in crd["spec"]["versions"]] == [names.VERSION]
    assert f"{names.GROUP}/{names.VERSION}" == names.API_VERSION


def test_driver_pod_name_is_the_application_name_and_fits_a_dns_label() -> None:
    long = "x" * 253
    assert names.driver_pod_name("entities", 2) == "entities-2-driver"
    assert names.app_name(long, 12).endswith("-12")
    assert len(names.driver_pod_name(long, 12)) == 63
