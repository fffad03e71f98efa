"""JUnit XML: what a CI system reads from a campaign (one test case per finding signature)."""

from lxml import etree

from fuzz.report_junit import write_junit

SUMMARY = {"seconds": 12.5, "cases": 900, "seed": 3, "jobs": 2, "interrupted": False, "batch_errors": []}
NEW = {"signature": "3-migratable-roundtrip-libvirt-aaaaaaaaaa", "invariant": "3-migratable-roundtrip",
       "party": "libvirt", "message": "destination definition differs", "known": False,
       "xpath": "/domain/devices/controller/@model", "reproduce": "virtfuzz replay out/findings/x",
       "input": "<domain/>"}
KNOWN = {"signature": "2-idempotent-redefine-libvirt-bbbbbbbbbb", "invariant": "2-idempotent-redefine",
         "party": "oracle", "message": "re-define changes the definition", "known": True,
         "known_as": "2-idempotent-redefine-libvirt-397890f804", "known_how": "reproduced by the oracle"}


def test_new_findings_fail_and_known_ones_are_skipped(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(path, SUMMARY, [NEW, KNOWN])
    suite = etree.parse(str(path)).getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("testsuite", "2", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {NEW["signature"], KNOWN["signature"]}
    failure = cases[NEW["signature"]].find("failure")
    assert failure is not None and "virtfuzz replay out/findings/x" in failure.text
    skipped = cases[KNOWN["signature"]].find("skipped")
    assert skipped is not None and "2-idempotent-redefine-libvirt-397890f804" in skipped.get("message")


def test_a_campaign_without_findings_is_one_passing_case(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(path, SUMMARY, [])
    suite = etree.parse(str(path)).getroot()
    (case,) = suite.iter("testcase")
    assert case.find("failure") is None and case.find("skipped") is None
    assert "900 cases" in case.get("name") and suite.get("failures") == "0"
