"""Campaign outputs for CI systems: JUnit XML, one test case per finding signature.

A CI system (GitLab, Jenkins, GitHub's test reporters) shows a JUnit file as a list of tests, so
each de-duplicated finding is one test case named by its signature: a *failure* when it is new,
*skipped* when it is a known finding (``corpus/known-findings/``, with the triaged one it matches).
A campaign that found nothing writes a single passing case, so the file always says what ran.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from virtfuzz.atomic import write_text


def write_junit(path: Path, summary: dict, records: list[dict]) -> None:
    suite = etree.Element("testsuite", name="virtfuzz.fuzz", time=f"{summary['seconds']:.2f}")
    failures = skipped = 0
    for rec in records:
        case = etree.SubElement(suite, "testcase", classname=f"virtfuzz.{rec['invariant']}",
                                name=rec["signature"])
        if rec.get("known"):
            skipped += 1
            etree.SubElement(case, "skipped", message=f"known finding {rec.get('known_as')} "
                                                      f"({rec.get('known_how') or 'same signature'})")
        else:
            failures += 1
            fail = etree.SubElement(case, "failure", message=rec["message"][:500], type=rec["party"])
            fail.text = "\n".join(filter(None, [
                rec["message"], rec.get("xpath") and f"first difference: {rec['xpath']}",
                rec.get("reproduce") and f"reproduce: {rec['reproduce']}", rec.get("input")]))
    if not records:
        etree.SubElement(suite, "testcase", classname="virtfuzz.campaign",
                         name=f"{summary['cases']} cases, no finding")
    suite.set("tests", str(max(len(records), 1)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", str(len(summary.get("batch_errors", []))))
    props = etree.SubElement(suite, "properties")
    for key in ("cases", "seed", "jobs", "interrupted"):
        etree.SubElement(props, "property", name=key, value=str(summary.get(key)))
    suite.insert(0, props)
    write_text(path, etree.tostring(suite, pretty_print=True, xml_declaration=True,
                                    encoding="UTF-8").decode())
