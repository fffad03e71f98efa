"""The fuzzing pipeline's own parts: XML diff, signatures, reduction, findings on disk, a short campaign."""

from __future__ import annotations

import json
import os

import pytest

from fuzz.checks import Failure, Observation, check_case
from fuzz.findings import write_finding
from fuzz.reduce import reduce_xml
from fuzz.signature import error_class, signature
from fuzz.xmldiff import first_difference
from virtfuzz.results import AbiResult, DefineResult, XmlResult

A = "<domain><devices><controller type='usb' model='piix3-uhci'/><input type='tablet'/></devices></domain>"


def test_first_difference_names_attribute_and_both_sides():
    d = first_difference(A, A.replace("piix3-uhci", "qemu-xhci"))
    assert d.xpath == "/domain/devices[1]/controller[@type='usb'][1]/@model"
    assert (d.left, d.right) == ("piix3-uhci", "qemu-xhci")
    assert d.generic_xpath == "/domain/devices/controller[@type='usb']/@model"


def test_first_difference_reports_reordering_as_order():
    b = "<domain><devices><input type='tablet'/><controller type='usb' model='piix3-uhci'/></devices></domain>"
    assert first_difference(A, b).xpath.endswith("/(order)")
    assert first_difference(A, A) is None


def test_error_class_blanks_numbers_and_names():
    assert error_class("Target controller model 9 does not match source 12") == \
        error_class("Target controller model 0 does not match source 8")
    assert error_class("'nec-xhci' controller only supports up to '15' ports") == \
        "'…' controller only supports up to '…' ports"


def test_signature_separates_parties_and_invariants():
    f = Failure("2-idempotent-redefine", "libvirt", "x", "/domain/devices/(order)")
    g = Failure("2-idempotent-redefine", "oracle", "x", "/domain/devices/(order)")
    assert signature(f) != signature(g) and signature(f) == signature(Failure(**{**f.__dict__, "message": "y"}))


def test_oracle_vs_libvirt_disagreement_is_attributed():
    ok = DefineResult(kind="ok", xml=A, migratable=A)
    other = DefineResult(kind="ok", xml=A.replace("piix3-uhci", "qemu-xhci"), migratable=A)
    fails = check_case(Observation(define=ok), Observation(define=other))
    assert [f.invariant for f in fails] == ["1-oracle-equals-libvirt"]
    assert fails[0].party == "oracle-vs-libvirt" and fails[0].xpath.endswith("@model")


def test_roundtrip_invariant_flags_abi_failure_on_one_party():
    ok = DefineResult(kind="ok", xml=A, migratable=A)
    obs = Observation(define=ok, destination=XmlResult(kind="ok", xml=A),
                      abi=AbiResult(kind="error", error="Target controller model 12 does not match source 0"))
    fails = check_case(None, obs)
    assert [(f.invariant, f.party) for f in fails] == [("3-migratable-roundtrip", "libvirt")]


def test_reduce_keeps_only_what_the_failure_needs():
    xml = ("<domain type='qemu'><name>n</name><uuid>u</uuid><memory>1</memory><os/><vcpu>2</vcpu>"
           "<devices><input type='mouse' bus='usb'/><controller type='usb' index='0' model='none' ports='4'/>"
           "<hub type='usb'/></devices></domain>")

    def fails(xmls):
        return ["model='none'" in x.replace('"', "'") for x in xmls]

    out, rounds = reduce_xml(xml, fails)
    assert "<vcpu>" not in out and "hub" not in out and "mouse" not in out and "ports" not in out
    assert "model=\"none\"" in out and rounds >= 3


def test_finding_written_once_and_completely(tmp_path):
    f = Failure("1-oracle-equals-libvirt", "oracle-vs-libvirt", "m", "/domain/@x", "a", "b")
    p = write_finding(tmp_path, "sig1", f, "<domain/>", "<domain/>", None, {"seed": 1})
    assert p is not None and json.loads((p / "finding.json").read_text())["signature"] == "sig1"
    before = (p / "finding.json").read_text()
    # written once: a second report of the signature (another job, an earlier campaign) keeps it
    assert write_finding(tmp_path, "sig1", f, "<other/>", "<other/>", None, {}) == p
    assert (p / "finding.json").read_text() == before and (p / "input.xml").read_text() == "<domain/>"
    assert not [x for x in (tmp_path / "findings").iterdir() if x.name.startswith(".")]


@pytest.mark.libvirt
def test_short_campaign_writes_summary_and_replayable_findings(tmp_path, libvirt_backend):
    from lxml import etree

    from fuzz.campaign import CampaignConfig, run_campaign
    from virtfuzz.cli import main

    junit = tmp_path / "junit.xml"
    cfg = CampaignConfig(budget=8, seed=3, jobs=1, out=tmp_path, backends=("libvirt",), batch=16, junit_xml=junit)
    _, status = run_campaign(cfg)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["cases"] > 0 and (tmp_path / "report.md").exists() and not data["batch_errors"]
    assert status == (1 if data["new_findings"] else 0)
    # libvirt 9.0.0's known re-definition quirks (corpus/known-findings) turn up within seconds:
    # a campaign that finds none of them checks nothing
    assert data["findings"], "an 8 s campaign on libvirt 9.0.0 found none of its known findings"
    for rec in data["findings"]:
        assert rec["count"] >= 1 and 0 <= rec["first_seen"] <= rec["last_seen"] <= data["seconds"] + 1
        assert len(list((tmp_path / "findings").glob(rec["signature"]))) == 1
    assert len(list((tmp_path / "findings").iterdir())) == len(data["findings"])  # one directory per signature
    suite = etree.parse(str(junit)).getroot()
    assert int(suite.get("tests")) == len(data["findings"])
    for rec in data["findings"][:2]:
        assert main(["replay", rec["path"]]) == 1  # the reproducer reproduces


def test_long_running_jobs_are_replaced_and_go_on_where_they_stopped(tmp_path):
    """Job processes are recycled (bounded memory over hours): the replacement continues the
    batch sequence (no batch drawn twice) and the campaign's counts go on."""
    from fuzz.campaign import CampaignConfig, run_campaign

    cfg = CampaignConfig(budget=12, seed=4, jobs=1, out=tmp_path, backends=("oracle",), batch=8,
                         recycle_seconds=0.5)
    fds = len(os.listdir("/proc/self/fd"))
    summary, status = run_campaign(cfg)
    assert summary["jobs_recycled"] >= 6 and summary["cases"] > 0 and not summary["batch_errors"]
    # replacements leave no descriptor behind in the parent
    assert len(os.listdir("/proc/self/fd")) <= fds + 1
    assert status in (0, 1) and not summary["interrupted"]
