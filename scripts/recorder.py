#!/usr/bin/env python3
"""Record what a real libvirt answers, with nothing of virtfuzz in between.

Expected outputs of corpus cases must come from libvirt itself, not from the code under test: this
program drives libvirt-python directly (stdlib + libvirt only, Python >= 3.9, so it also runs
with a build's own interpreter inside its root filesystem). For each input ``DIR/NAME.xml`` it
writes, next to it, what a new definition gives (``defineXML``, which parses with ABI_UPDATE):
``NAME.expected.xml`` (``XMLDesc(0)``) and ``NAME.expected.mig.xml`` (``XMLDesc(MIGRATABLE)``), or
``NAME.expected.err`` (libvirt's message). The embedded driver runs in a fresh temporary root.

    python3 scripts/recorder.py define corpus/cases/oracle-golden/edge-....xml ...
"""

import os
import shutil
import sys
import tempfile

import libvirt

QEMU_CONF = 'user = "root"\ngroup = "root"\nstdio_handler = "file"\n'


def _message(e: "libvirt.libvirtError") -> str:
    return " ".join(str(e).splitlines())


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def record_define(conn: "libvirt.virConnect", xml_path: str) -> str:
    base = xml_path[: -len(".xml")]
    for suffix in (".expected.xml", ".expected.mig.xml", ".expected.err"):
        if os.path.exists(base + suffix):
            os.unlink(base + suffix)
    with open(xml_path) as f:
        xml = f.read()
    try:
        dom = conn.defineXML(xml)
    except libvirt.libvirtError as e:
        _write(base + ".expected.err", _message(e) + "\n")
        return "error"
    try:
        _write(base + ".expected.xml", dom.XMLDesc(0))
        _write(base + ".expected.mig.xml", dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE))
    finally:
        dom.undefine()
    return "ok"


def main(argv: list) -> int:
    if len(argv) < 2 or argv[0] != "define" or not all(a.endswith(".xml") for a in argv[1:]):
        print("usage: recorder.py define FILE.xml...", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="vfrec-", dir="/tmp")
    os.chmod(root, 0o755)
    try:
        os.makedirs(os.path.join(root, "etc"))
        _write(os.path.join(root, "etc", "qemu.conf"), QEMU_CONF)
        libvirt.registerErrorHandler(lambda *_: None, None)
        libvirt.virEventRegisterDefaultImpl()
        conn = libvirt.open("qemu:///embed?root=" + root)
        try:
            for path in argv[1:]:
                print(f"{path}: {record_define(conn, path)} (libvirt {conn.getLibVersion()})")
        finally:
            conn.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
