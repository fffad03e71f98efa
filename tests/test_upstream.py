"""The exported corpus inside libvirt's own test programs (``tox -e upstream``): a deliberately
changed expected output makes the run fail, on that case only.

Needs the toolchain and Debian's libvirt source package (``scripts/upstream-build.sh`` prepares and
caches them in ``$VIRTFUZZ_DATA_DIR/upstream/``; the first run builds, a few minutes): marked
``libvirt``, so it FAILS when they cannot be had (VIRTFUZZ_SKIP_LIBVIRT=1 skips it locally).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import libvirt_missing
from virtfuzz import upstream
from virtfuzz.commands.export import export

pytestmark = pytest.mark.libvirt


def test_changed_expected_output_fails_the_upstream_run(tmp_path):
    try:
        upstream.build()
    except RuntimeError as e:
        libvirt_missing(f"libvirt's test programs cannot be built: {e}")
    exp = tmp_path / "export"
    m = export(exp, arches=["x86_64", "aarch64"], limit=12)
    assert m["cases"] == 12 and set(m["arches"]) <= {"x86_64", "aarch64"}
    victim = next(e for e in m["exported"] if e["tests"][0]["program"] == "qemuxml2xmltest")
    out_xml = exp / "qemuxml2xmloutdata" / victim["tests"][0]["expected"]
    text = out_xml.read_text()
    changed = re.sub(r"<memory unit='KiB'>(\d+)</memory>",
                     lambda mo: f"<memory unit='KiB'>{int(mo[1]) + 1024}</memory>", text, count=1)
    assert changed != text
    out_xml.write_text(changed)

    rc = upstream.main(["--out", str(tmp_path / "out"), "--export", str(exp)])

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert rc == 1
    assert summary["cases"] == 12 and summary["passed"] == 11
    assert [f["name"] for f in summary["failed"]] == [victim["name"]]
    assert summary["failed"][0]["tests"][0]["status"] == "FAILED"


def test_changed_expected_output_fails_the_11_3_0_run(tmp_path):
    """The same for libvirt 11.3.0's qemuxmlconftest (``--libvirt 11.3.0``, the libvirt-11 export;
    built on this host from Debian trixie's source package; the export's command lines come from
    the 11.3.0 build's root)."""
    from virtfuzz.commands import export11

    try:
        upstream.build("11.3.0")
    except RuntimeError as e:
        libvirt_missing(f"libvirt 11.3.0's qemuxmlconftest cannot be built: {e}")
    exp = tmp_path / "export"
    m = export11.export(exp, arches=["x86_64", "aarch64"], limit=12)
    assert m["cases"] == 12 and set(m["arches"]) <= {"x86_64", "aarch64"}
    victim = next(e for e in m["exported"] if len(e["tests"]) == 4)
    out_xml = exp / "qemuxmlconfdata" / victim["tests"][1]["expected"]
    text = out_xml.read_text()
    changed = re.sub(r"<memory unit='KiB'>(\d+)</memory>",
                     lambda mo: f"<memory unit='KiB'>{int(mo[1]) + 1024}</memory>", text, count=1)
    assert changed != text
    out_xml.write_text(changed)

    rc = upstream.main(["--libvirt", "11.3.0", "--out", str(tmp_path / "out"), "--export", str(exp)])

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert rc == 1
    assert summary["libvirt"] == "11.3.0" and summary["cases"] == 12 and summary["passed"] == 11
    assert [f["name"] for f in summary["failed"]] == [victim["name"]]
    # the inactive XML differs; the changed file still parses and formats to itself
    assert [(t["test"].split(" virtfuzz-")[0], t["status"]) for t in summary["failed"][0]["tests"]] == [
        ("QEMU XML def -> XML", "FAILED")]
