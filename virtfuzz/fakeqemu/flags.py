"""libvirt capability flag name -> QMP-level mutations that make libvirt stop setting it.

Why a table derived from libvirt's source: each flag libvirt 9.0.0 probes comes from one of a few
tables in ``src/qemu/qemu_capabilities.c`` that say which QMP answer sets it (a QOM type in
``qom-list-types``, a command, a device/object/machine property, a command-line option, a
migration capability, a TPM model/type, a QMP schema path). Deleting that source makes the real
libvirt drop the flag *and* everything it derives from it, which a hand-written list of flags
could not do consistently.

The table is data (``data/flags-libvirt-9.0.0.json``), regenerated from the source with
``python -m virtfuzz.fakeqemu.flags SRC_DIR``; its ``source`` field names the file and tables.
Flags libvirt derives from another flag (``DERIVED``) map to their source's mutations, so they
go together. Flags libvirt sets from the arch, the version or the host (``virQEMUCapsInitQMPBasicArch``,
``virQEMUCapsInitQMPVersionCaps``, ``kvm``) have no QMP source and are not in the table.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

Mutation = dict[str, Any]
TABLE_PATH = Path(__file__).with_name("data") / "flags-libvirt-9.0.0.json"
DEFAULT_LIBVIRT = "9.0.0"
# libvirt versions whose flag table is another version's, with the reason (shown by the CLI):
# a build whose source package cannot be fetched uses its nearest predecessor's table, and a
# deletion is only as good as that table (tests check the flags they use on the build itself)
BORROWED = {"12.9.0": ("11.3.0", "libvirt 12.9.0's Debian source package was not on the mirror")}


# per build: flags its table maps whose deletion the build's libvirt does not follow on some arch
# (scripts/sweep-build-flags.py measures it): --caps-del refuses them there
UNHONOURED_PATH = TABLE_PATH.with_name("flags-unhonoured.json")


@cache
def unhonoured(libvirt: str = DEFAULT_LIBVIRT) -> dict[str, str]:
    """flag -> why deleting it does not take on libvirt ``libvirt`` (measured; empty if never swept)."""
    try:
        return json.loads(UNHONOURED_PATH.read_text(encoding="utf-8")).get(libvirt, {})
    except FileNotFoundError:
        return {}


def table_path(libvirt: str = DEFAULT_LIBVIRT) -> Path:
    libvirt = BORROWED.get(libvirt, (libvirt,))[0]
    return TABLE_PATH.with_name(f"flags-libvirt-{libvirt}.json")


def table_versions() -> list[str]:
    """libvirt versions with a flag table (their own or a borrowed one)."""
    own = [p.name[len("flags-libvirt-"):-len(".json")] for p in TABLE_PATH.parent.glob("flags-libvirt-*.json")]
    return sorted(set(own) | {v for v, (b, _) in BORROWED.items() if b in own},
                  key=lambda v: tuple(int(x) for x in v.split(".")))

# libvirt's names for the TPM enums it looks up (virDomainTPMModel / virDomainTPMBackend
# VIR_ENUM_IMPLs in src/conf/domain_conf.c, libvirt 9.0.0).
TPM_NAMES = {
    "VIR_DOMAIN_TPM_MODEL_TIS": "tpm-tis",
    "VIR_DOMAIN_TPM_MODEL_CRB": "tpm-crb",
    "VIR_DOMAIN_TPM_MODEL_SPAPR": "tpm-spapr",
    "VIR_DOMAIN_TPM_TYPE_PASSTHROUGH": "passthrough",
    "VIR_DOMAIN_TPM_TYPE_EMULATOR": "emulator",
}


# Flags libvirt 9.0.0 derives from other flags (virQEMUCapsInitProcessCaps,
# virQEMUCapsInitProcessCapsInterlock, virQEMUCapsDevicePropsVirtioBlkSCSIDefault in
# src/qemu/qemu_capabilities.c): removable only together with the flag they come from.
DERIVED = {
    "canonical-cpu-features": "cpu-unavailable-features",
    "compat-deprecated": "object.qapified",
    "cpu-cache": "query-cpu-model-expansion",
    "incremental-backup": "blockdev-reopen",
    "virtio-blk-pci.scsi.default.disabled": "virtio-blk-pci.scsi",
}


class FlagError(KeyError):
    """No QMP-level mutation is known for the flag."""


def _array(src: str, name: str) -> str:
    m = re.search(r"\b" + re.escape(name) + r"\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    if not m:
        raise ValueError(f"table {name} not found")
    return re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)


def _pairs(body: str) -> list[tuple[str, str]]:
    return re.findall(r'\{\s*"([^"]+)"\s*,\s*(QEMU_CAPS_\w+)', body)


def build_table(src_dir: str | Path, version: str = DEFAULT_LIBVIRT) -> dict[str, Any]:
    """Derive {flag: [mutation, ...]} from libvirt's qemu_capabilities.c (of libvirt ``version``)."""
    path = Path(src_dir) / "src" / "qemu" / "qemu_capabilities.c"
    src = path.read_text(encoding="utf-8")
    enum_body = src[src.index("VIR_ENUM_IMPL(virQEMUCaps,"):]
    enum_body = enum_body[: enum_body.index(");")]
    names = {const: name for name, const in re.findall(r'"([^"]+)",\s*/\*\s*(\w+)\s*\*/', enum_body)}
    if not any(c.startswith(("QEMU_CAPS_", "X_QEMU_CAPS_")) for c in names):
        # libvirt < 8: no constant beside each string; pair them with the header's enum order
        header = (path.parent / "qemu_capabilities.h").read_text(encoding="utf-8")
        body = header[header.index("typedef enum { /* virQEMUCapsFlags"):]
        body = re.sub(r"/\*.*?\*/", "", body[: body.index("QEMU_CAPS_LAST")], flags=re.S)
        consts = re.findall(r"\b(X_QEMU_CAPS_\w+|QEMU_CAPS_\w+)\s*(?:=\s*\d+\s*)?,", body)
        strings = re.findall(r'"([^"]+)"', re.sub(r"/\*.*?\*/", "", enum_body.split(",", 2)[2], flags=re.S))
        if len(consts) != len(strings):
            raise ValueError(f"{len(consts)} flag constants but {len(strings)} names in {path.name}")
        names = dict(zip(consts, strings, strict=True))
    flags: dict[str, list[Mutation]] = {}

    def add(const: str, mutation: Mutation) -> None:
        name = names[const]
        if mutation not in flags.setdefault(name, []):
            flags[name].append(mutation)

    for value, const in _pairs(_array(src, "virQEMUCapsObjectTypes")):
        add(const, {"op": "del-type", "name": value})
    for value, const in _pairs(_array(src, "virQEMUCapsCommands")):
        add(const, {"op": "del-command", "name": value})
    for value, const in _pairs(_array(src, "virQEMUCapsMigration")):
        add(const, {"op": "del-migration-cap", "name": value})
    for value, const in _pairs(_array(src, "virQEMUCapsQMPSchemaQueries")):
        add(const, {"op": "del-schema", "path": value})
    for option, param, const in re.findall(
        r'\{\s*"([^"]+)"\s*,\s*(?:"([^"]*)"|NULL)\s*,\s*(QEMU_CAPS_\w+)', _array(src, "virQEMUCapsCommandLine")
    ):
        add(const, {"op": "del-cmdline", "option": option, **({"param": param} if param else {})})
    # device, object and machine property tables: {"type", propsArray, ...}
    for table, suffix in (
        ("virQEMUCapsDeviceProps", ""),
        ("virQEMUCapsObjectProps", ""),
        ("virQEMUCapsMachineProps", "*-machine"),
    ):
        for typename, arr in re.findall(r'\{\s*"([^"]+)"\s*,\s*(virQEMUCaps\w+)\s*,', _array(src, table)):
            qom_type = typename + suffix if suffix else typename
            if suffix and typename == "none":
                qom_type = "none-machine"
            for value, const in _pairs(_array(src, arr)):
                add(const, {"op": "del-property", "type": qom_type, "name": value})
    for table, kind in (("virQEMUCapsTPMModelsToCaps", "model"), ("virQEMUCapsTPMTypesToCaps", "type")):
        for enum, const in re.findall(r"\.type\s*=\s*(\w+),\s*\.caps\s*=\s*(QEMU_CAPS_\w+)", _array(src, table)):
            add(const, {"op": "del-tpm", "kind": kind, "name": TPM_NAMES[enum]})
    # virQEMUCapsProbeQMPCPUDefinitions: "max" among query-cpu-definitions
    cpu_max = r'STREQ_NULLABLE\(defs->cpus\[i\]\.name, "max"\)\)\s*\{\s*virQEMUCapsSet\(qemuCaps, QEMU_CAPS_CPU_MAX\)'
    if re.search(cpu_max, src):
        add("QEMU_CAPS_CPU_MAX", {"op": "del-cpu-model", "name": "max"})
    derived_here = {d: src for d, src in DERIVED.items() if src in flags and d in names.values()}
    for derived, source in derived_here.items():
        flags[derived] = [dict(m) for m in flags[source]]
    return {
        "source": f"libvirt {version} {path.relative_to(Path(src_dir))}: virQEMUCapsObjectTypes, "
        "virQEMUCapsCommands, virQEMUCapsMigration, virQEMUCapsQMPSchemaQueries, "
        "virQEMUCapsCommandLine, virQEMUCapsDeviceProps, virQEMUCapsObjectProps, "
        "virQEMUCapsMachineProps, virQEMUCapsTPMModelsToCaps, virQEMUCapsTPMTypesToCaps, "
        "virQEMUCapsProbeQMPCPUDefinitions; derived flags (removed with their source): "
        + ", ".join(f"{d} <- {src}" for d, src in derived_here.items()),
        "flags": dict(sorted(flags.items())),
        "all_flags": sorted(n for c, n in names.items() if not c.startswith("X_")),
    }


@cache
def table(libvirt: str = DEFAULT_LIBVIRT) -> dict[str, Any]:
    try:
        return json.loads(table_path(libvirt).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlagError(f"no flag table for libvirt {libvirt} (have: {', '.join(table_versions())})") from None


def known_flags(libvirt: str = DEFAULT_LIBVIRT) -> list[str]:
    return list(table(libvirt)["flags"])


def mutations_for(flag: str, libvirt: str = DEFAULT_LIBVIRT) -> list[Mutation]:
    """The mutations that remove ``flag``'s QMP source(s) for libvirt ``libvirt``; raises :class:`FlagError`."""
    try:
        return [dict(m) for m in table(libvirt)["flags"][flag]]
    except KeyError:
        raise FlagError(flag) from None


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m virtfuzz.fakeqemu.flags LIBVIRT_SRC_DIR [LIBVIRT_VERSION]", file=sys.stderr)
        return 2
    version = argv[1] if len(argv) == 2 else DEFAULT_LIBVIRT
    data = build_table(argv[0], version)
    out = TABLE_PATH.with_name(f"flags-libvirt-{version}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"{len(data['flags'])} of {len(data['all_flags'])} flags mapped -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
