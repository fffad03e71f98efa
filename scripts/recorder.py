#!/usr/bin/env python3
"""Record what a real libvirt answers, with nothing of virtfuzz in between.

Expected outputs of corpus cases must come from libvirt itself, not from the code under test: this
program drives libvirt-python directly (stdlib + libvirt only, Python >= 3.9, so it also runs
with a build's own interpreter inside its root filesystem). The embedded QEMU driver runs in a
fresh temporary root (``qemu:///embed?root=...``). For each input ``DIR/NAME.xml`` it writes,
next to it (or into ``--out DIR``), what libvirt gives for one operation:

``define``  a new definition (``defineXML``, which parses with ABI_UPDATE): ``NAME.expected.xml``
            (``XMLDesc(0)``) and ``NAME.expected.mig.xml`` (``XMLDesc(MIGRATABLE)``, or
            ``NAME.expected.mig.err`` when only that fails), or ``NAME.expected.err``.
``load``    what a driver start-up makes of a stored definition: the inputs are written into a
            fresh root's ``etc/qemu/`` (as ``<name>.xml``), a fresh embedded driver is opened on
            it (virDomainObjListLoadAllConfigs: parsed without ABI_UPDATE, not validated) and each
            domain is read back with ``XMLDesc(0)``: ``NAME.expected.xml``. A definition the
            driver skips has no API error; libvirt logs the reason, then "Failed to load config
            for domain 'NAME'": the last error logged before that line is ``NAME.expected.err``.
            Definitions sharing a name or UUID go to separate start-ups (one process each).
``abi``     libvirt's ABI-stability check of a migration/restore destination: the source
            ``NAME.xml`` is defined and its ``XMLDesc(MIGRATABLE|INACTIVE)`` put into a synthetic
            save image (92-byte header ``LibvirtQemudSave`` + 5 LE uint32: version 2, data length,
            was_running 0, compressed 0, cookie offset 0; 56 zero bytes; the XML, NUL, zero
            padding with room to spare); ``saveImageDefineXML(image, NAME.dst.xml)`` runs the
            check. Accepted: no file; refused (or the source not defined): ``NAME.expected.err``.
``attach``  / ``detach``: ``NAME.xml`` is defined, ``NAME.dev.xml`` attached/detached with
            ``VIR_DOMAIN_AFFECT_CONFIG``: ``NAME.expected.xml`` (``XMLDesc(0)``) or
            ``NAME.expected.err``.

Messages are ``str(libvirtError)`` on one line (line breaks, as in libxml2's errors, become
spaces). One line per input goes to stdout: ``PATH: ok|error (libvirt N)``.

``--build-suffix ARCH-VERSION`` names the outputs as the corpus stores them, per build
(``NAME.ARCH-VERSION.expected.xml`` ..., see virtfuzz/corpus.py); VERSION must be the version of
the libvirt that answers (the recorder refuses to file one build's answers under another's name).
Without it the names carry no build (``NAME.expected.xml``).

    python3 scripts/recorder.py define --build-suffix x86_64-9.0.0 corpus/cases/edge/edge-....xml ...
    python3 scripts/recorder.py load --out /tmp/exp corpus/cases/load/load-*.xml
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

QEMU_CONF = 'user = "root"\ngroup = "root"\nstdio_handler = "file"\n'
OPS = ("define", "load", "abi", "attach", "detach")
OUTPUTS = (".expected.xml", ".expected.mig.xml", ".expected.mig.err", ".expected.err")
SAVE_MAGIC = b"LibvirtQemudSave"
SAVE_ROOM = 256 * 1024  # zero padding after the XML: a destination may format longer than the source


def _message(e) -> str:
    return " ".join(str(e).splitlines())


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _base(xml_path: str) -> str:
    return xml_path[: -len(".xml")]


_SUFFIX = {"build": None}  # --build-suffix ARCH-VERSION, or None


def _out_base(xml_path: str, out: "str | None") -> str:
    base = _base(xml_path)
    base = os.path.join(out, os.path.basename(base)) if out else base
    return f"{base}.{_SUFFIX['build']}" if _SUFFIX["build"] else base


def _dotted(version: int) -> str:
    return f"{version // 1000000}.{version // 1000 % 1000}.{version % 1000}"


def _check_version(version: int) -> None:
    """The libvirt answering is the one --build-suffix names."""
    if _SUFFIX["build"] and not _SUFFIX["build"].endswith("-" + _dotted(version)):
        raise SystemExit(f"--build-suffix {_SUFFIX['build']}: but the libvirt answering is {_dotted(version)}")


def _clear(out_base: str) -> None:
    for suffix in OUTPUTS:
        if os.path.exists(out_base + suffix):
            os.unlink(out_base + suffix)


def _new_root() -> str:
    root = tempfile.mkdtemp(prefix="vfrec-", dir="/tmp")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "etc"))
    _write(os.path.join(root, "etc", "qemu.conf"), QEMU_CONF)
    return root


def _open(root: str):
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)
    libvirt.virEventRegisterDefaultImpl()
    return libvirt.open("qemu:///embed?root=" + root)


# -- define / abi / attach / detach: one driver, one call sequence per input ----------------------

def record_define(conn, xml_path: str, out_base: str) -> str:
    import libvirt

    try:
        dom = conn.defineXML(_read(xml_path))
    except libvirt.libvirtError as e:
        _write(out_base + ".expected.err", _message(e) + "\n")
        return "error"
    try:
        _write(out_base + ".expected.xml", dom.XMLDesc(0))
        try:
            _write(out_base + ".expected.mig.xml", dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE))
        except libvirt.libvirtError as e:  # defined, but no migratable form
            _write(out_base + ".expected.mig.err", _message(e) + "\n")
    finally:
        dom.undefine()
    return "ok"


def save_image(path: str, xml: str) -> None:
    """The header and XML area of a QEMU save image (libvirt reads nothing else to redefine)."""
    data = xml.encode() + b"\0"
    data_len = len(data) + SAVE_ROOM
    data_len += (-data_len) % 4096
    header = SAVE_MAGIC + struct.pack("<5I", 2, data_len, 0, 0, 0) + b"\0" * 56
    assert len(header) == 92
    with open(path, "wb") as f:
        f.write(header + data.ljust(data_len, b"\0"))


def record_abi(conn, xml_path: str, out_base: str, scratch: str) -> str:
    import libvirt

    dst_path = _base(xml_path) + ".dst.xml"
    try:
        dom = conn.defineXML(_read(xml_path))
    except libvirt.libvirtError as e:
        _write(out_base + ".expected.err", _message(e) + "\n")
        return "error"
    try:
        src = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_INACTIVE)
    except libvirt.libvirtError as e:  # defined, but it has no migratable form to save
        _write(out_base + ".expected.err", _message(e) + "\n")
        return "error"
    finally:
        dom.undefine()
    dst = _read(dst_path) if os.path.exists(dst_path) else src
    image = os.path.join(scratch, "abi.save")
    save_image(image, src)
    try:
        conn.saveImageDefineXML(image, dst, 0)
    except libvirt.libvirtError as e:
        _write(out_base + ".expected.err", _message(e) + "\n")
        return "error"
    return "ok"


def record_hotplug(conn, op: str, xml_path: str, out_base: str) -> str:
    import libvirt

    dev = _read(_base(xml_path) + ".dev.xml")
    try:
        dom = conn.defineXML(_read(xml_path))
    except libvirt.libvirtError as e:
        _write(out_base + ".expected.err", _message(e) + "\n")
        return "error"
    try:
        fn = dom.attachDeviceFlags if op == "attach" else dom.detachDeviceFlags
        try:
            fn(dev, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        except libvirt.libvirtError as e:
            _write(out_base + ".expected.err", _message(e) + "\n")
            return "error"
        _write(out_base + ".expected.xml", dom.XMLDesc(0))
    finally:
        dom.undefine()
    return "ok"


def run_calls(op: str, paths: list, out: "str | None") -> int:
    root = _new_root()
    try:
        conn = _open(root)
        try:
            version = conn.getLibVersion()
            _check_version(version)
            for path in paths:
                ob = _out_base(path, out)
                _clear(ob)
                if op == "define":
                    res = record_define(conn, path, ob)
                elif op == "abi":
                    res = record_abi(conn, path, ob, root)
                else:
                    res = record_hotplug(conn, op, path, ob)
                print(f"{path}: {res} (libvirt {version})", flush=True)
        finally:
            conn.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


# -- load: a driver start-up per group of definitions ----------------------------------------------

_NAME = re.compile(r"<name>\s*([^<]*?)\s*</name>")
_UUID = re.compile(r"<uuid>\s*([^<]*?)\s*</uuid>")
# a libvirt log record: "2024-01-02 03:04:05.678+0000: 1234: error : someFunction:123 : message"
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}: \d+: (\w+) : \S+ : (.*)$")
_GAVE_UP = re.compile(r"^Failed to load config for domain '(.*)'$")


def skipped_configs(log_text: str) -> dict:
    """Domain name -> the last error libvirt logged before "Failed to load config for domain"."""
    records = []  # [level, message]; lines without a record prefix continue the previous message
    for line in log_text.splitlines():
        m = _RECORD.match(line)
        if m:
            records.append([m.group(1), m.group(2)])
        elif records:
            records[-1][1] += " " + line
    reasons = {}
    last_error = None
    for level, message in records:
        if level != "error":
            continue
        gave_up = _GAVE_UP.match(message)
        if gave_up:
            reasons[gave_up.group(1)] = last_error if last_error is not None else "(no error logged)"
            last_error = None
        else:
            last_error = message
    return reasons


def _groups(paths: list) -> list:
    """Split the inputs so that no start-up sees a name or UUID twice."""
    groups = []  # [(names, uuids, [(path, name)])]
    for path in paths:
        xml = _read(path)
        m = _NAME.search(xml)
        if not m or not m.group(1) or "/" in m.group(1):
            raise SystemExit(f"{path}: no usable <name> to store the definition under")
        name = m.group(1)
        u = _UUID.search(xml)
        uuid = u.group(1).lower() if u else None
        fits = [g for g in groups if name not in g[0] and (uuid is None or uuid not in g[1])]
        if not fits:
            groups.append((set(), set(), []))
        names, uuids, members = fits[0] if fits else groups[-1]
        names.add(name)
        if uuid:
            uuids.add(uuid)
        members.append((path, name))
    return [members for _, _, members in groups]


def load_one_root(root: str, listing: str) -> int:
    """Child process (LIBVIRT_LOG_OUTPUTS already names root/libvirt.log): open the driver on a
    root whose etc/qemu/ holds the definitions; print one JSON line per name."""
    import json

    import libvirt

    names = _read(listing).split("\n")[:-1]
    conn = _open(root)
    try:
        version = conn.getLibVersion()
        for name in names:
            try:
                xml = conn.lookupByName(name).XMLDesc(0)
                print(json.dumps({"name": name, "xml": xml, "libvirt": version}), flush=True)
            except libvirt.libvirtError:
                print(json.dumps({"name": name, "xml": None, "libvirt": version}), flush=True)
    finally:
        conn.close()
    return 0


def run_load(paths: list, out: "str | None", cache: "str | None" = None) -> int:
    import json

    own_cache = cache is None
    cache = cache or tempfile.mkdtemp(prefix="vfrec-caps-", dir="/tmp")
    try:
        for members in _groups(paths):
            root = _new_root()
            try:
                config = os.path.join(root, "etc", "qemu")
                os.makedirs(config)
                for path, name in members:
                    shutil.copyfile(path, os.path.join(config, name + ".xml"))
                caps = os.path.join(root, "cache", "qemu", "capabilities")
                if os.listdir(cache):  # capabilities probed by an earlier start-up: libvirt's own cache
                    shutil.copytree(cache, caps)
                listing = os.path.join(root, "names")
                _write(listing, "".join(name + "\n" for _, name in members))
                log = os.path.join(root, "libvirt.log")
                env = dict(os.environ, LIBVIRT_LOG_OUTPUTS="4:file:" + log, LIBVIRT_LOG_FILTERS="4:*")
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "_load-root", root, listing],
                                      env=env, stdout=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"load: the driver start-up failed (exit {proc.returncode})")
                loaded = {}
                for line in proc.stdout.splitlines():
                    d = json.loads(line)
                    _check_version(d["libvirt"])
                    loaded[d["name"]] = d
                reasons = skipped_configs(_read(log)) if os.path.exists(log) else {}
                for path, name in members:
                    ob = _out_base(path, out)
                    _clear(ob)
                    d = loaded[name]
                    if d["xml"] is not None:
                        _write(ob + ".expected.xml", d["xml"])
                        res = "ok"
                    else:
                        if name not in reasons:
                            raise SystemExit(f"{path}: not loaded, and libvirt's log says nothing about {name!r}")
                        _write(ob + ".expected.err", reasons[name] + "\n")
                        res = "error"
                    print(f"{path}: {res} (libvirt {d['libvirt']})", flush=True)
                if os.path.isdir(caps):
                    shutil.rmtree(cache)
                    shutil.copytree(caps, cache)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if own_cache:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


def main(argv: list) -> int:
    if len(argv) == 3 and argv[0] == "_load-root":
        return load_one_root(argv[1], argv[2])
    op = argv[0] if argv else None
    rest = list(argv[1:])
    out = None
    while rest[:1] in (["--out"], ["--build-suffix"]) and len(rest) >= 2:
        if rest[0] == "--out":
            out = rest[1]
            os.makedirs(out, exist_ok=True)
        elif not re.match(r"^[A-Za-z0-9_]+-[0-9]+[.][0-9]+[.][0-9]+$", rest[1]):
            print(f"--build-suffix {rest[1]!r}: expected ARCH-VERSION, e.g. x86_64-9.0.0", file=sys.stderr)
            return 2
        else:
            _SUFFIX["build"] = rest[1]
        rest = rest[2:]
    if op not in OPS or not rest or not all(a.endswith(".xml") for a in rest):
        print(f"usage: recorder.py {{{'|'.join(OPS)}}} [--out DIR] [--build-suffix ARCH-VERSION] FILE.xml...",
              file=sys.stderr)
        return 2
    if op == "load":
        return run_load(rest, out)
    return run_calls(op, rest, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
