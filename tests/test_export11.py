"""``virtfuzz export --layout libvirt-11``: the names and macros libvirt 11.x's qemuxmlconftest
expects (tests/qemuxmlconftest.c ``testRun``: ``qemuxmlconfdata/NAME.xml``, outputs
``NAME SUFFIX VARIANT.{xml,args,err}``; ``caps_VER_ARCH+VARIANT.xml``), checked without a build: the
command lines come from a stand-in for the real 11.3.0 driver."""

from __future__ import annotations

import re

from virtfuzz import corpus
from virtfuzz.commands import export11

MACRO = re.compile(r'^DO_TEST_FULL\("([^"]+)", "([^"]+)", ARG_CAPS_ARCH, "(\w+)", ARG_CAPS_VER, "([\d.]+)", '
                   r'ARG_CAPS_VARIANT, "\+virtfuzz", ARG_PARSEFLAGS, ([^,]+(?: \| [^,]+)?)'
                   r'(?:, ARG_FLAGS, (FLAG_EXPECT_PARSE_ERROR|FLAG_EXPECT_FAILURE))?, ARG_END\);$')


def fake_record(xmls):
    # one of each: a command line, and a definition that cannot start
    return [("ok", "LC_ALL=C \\\n/usr/bin/qemu-system-x86_64\n") if i % 7 else ("error", "cannot start")
            for i, _ in enumerate(xmls)]


def test_libvirt11_layout_names_and_macros(tmp_path):
    m = export11.export(tmp_path, record=fake_record)
    data = tmp_path / "qemuxmlconfdata"
    cases = {c.name: c for c in corpus.cases() if c.expected_for("11.3.0")}
    assert m["layout"] == "libvirt-11" and m["cases"] > 150
    # i686 and armv7l: the 11.x harness has no capability data for qemu-system-i386/-arm (their default)
    assert set(m["arches"]) == {"aarch64", "ppc64", "riscv64", "s390x", "x86_64"}
    assert {why.split(":")[0] for why in m["skipped"] if why.startswith("emulator ")} == {
        "emulator /usr/bin/qemu-system-i386", "emulator /usr/bin/qemu-system-arm"}
    lines = (tmp_path / "qemuxmlconftest.inc").read_text().splitlines()
    macros = [MACRO.match(x) for x in lines if x.startswith("DO_TEST")]
    assert all(macros) and len(macros) == m["cases"] == m["tests"]["qemuxmlconftest"]
    used = set()
    kinds = set()
    for mo in macros:
        name, suffix, arch, ver, flags, expect = mo.groups()
        case = cases[name.removeprefix("virtfuzz-")]
        assert case.arch == arch and ver == case.qemu_for("11.3.0") == "10.0.13"
        # define: a new definition, libvirt 11's .abi-update suffix; load: a restart's parse
        if case.op == "define":
            assert suffix == f".{arch}-{ver}.abi-update" and flags == "VIR_DOMAIN_DEF_PARSE_ABI_UPDATE"
        else:
            assert case.op == "load" and suffix == f".{arch}-{ver}"
            assert flags == "VIR_DOMAIN_DEF_PARSE_SKIP_VALIDATE | VIR_DOMAIN_DEF_PARSE_ALLOW_POST_PARSE_FAIL"
        stem = f"{name}{suffix}+virtfuzz"
        assert (data / f"{name}.xml").read_text() == case.input.read_text()
        used.add(f"{name}.xml")
        if expect == "FLAG_EXPECT_PARSE_ERROR":  # the rejection; no output XML, no ARGV test
            assert (data / f"{stem}.err").read_text() == case.read("err", "11.3.0")
            assert not (data / f"{stem}.xml").exists()
            used.add(f"{stem}.err")
        else:
            assert (data / f"{stem}.xml").read_text() == case.read("xml", "11.3.0")
            used.add(f"{stem}.xml")
            argv = f"{stem}.err" if expect == "FLAG_EXPECT_FAILURE" else f"{stem}.args"
            assert (data / argv).is_file()
            used.add(argv)
        kinds.add((case.op, expect))
    assert {("define", None), ("define", "FLAG_EXPECT_PARSE_ERROR"), ("define", "FLAG_EXPECT_FAILURE"),
            ("load", None)} <= kinds
    # qemuxmlconftest fails on any .xml/.args/.err of its directory no test used
    assert {f.name for f in data.iterdir()} == used
    caps = sorted(f.name for f in (tmp_path / "qemucapabilitiesdata").iterdir())
    assert caps == sorted(f"caps_10.0.13_{a}+virtfuzz.{k}" for a in m["arches"] for k in ("xml", "replies"))
    for arch in m["arches"]:  # the harness loads ARCH's data for /usr/bin/qemu-system-ARCH (ppc64, not ppc)
        text = (tmp_path / "qemucapabilitiesdata" / f"caps_10.0.13_{arch}+virtfuzz.xml").read_text()
        assert f"<emulator>/usr/bin/qemu-system-{arch}</emulator>" in text
    for e in m["exported"]:
        assert all(t["program"] == "qemuxmlconftest" for t in e["tests"])
        assert e["tests"][0]["test"].startswith("QEMU XML def parse virtfuzz-")
        assert len(e["tests"]) in (1, 4)


def test_libvirt11_shipped_only_has_no_qemu_10_0_13(tmp_path):
    # libvirt 11.3.0 ships QEMU 10.0.0 data (x86_64, s390x); the answers were recorded with 10.0.13
    m = export11.export(tmp_path, shipped_only=True, record=fake_record)
    assert m["cases"] == 0
    assert any("ships no QEMU 10.0.13" in why for why in m["skipped"])
