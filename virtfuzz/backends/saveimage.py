"""A synthetic QEMU save image: the cheapest public route to libvirt's real ABI-stability check.

``virDomainSaveImageDefineXML`` reads only the header and the embedded domain XML of a save
image, re-parses both definitions and runs qemuDomainDefCheckABIStability (libvirt 9.0.0,
src/qemu/qemu_saveimage.c: virQEMUSaveHeader, qemuSaveImageUpdateDef). No QEMU runs.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"LibvirtQemudSave"
VERSION = 2
HEADER_UNUSED = 56  # bytes of zero padding after the five uint32 fields (92-byte header in total)


def write_save_image(path: Path, domain_xml: str) -> None:
    """Write a header + XML image whose XML is ``domain_xml`` (a migratable inactive definition)."""
    xml = domain_xml.encode() + b"\0"
    data_len = len(xml) + (-len(xml)) % 512
    header = MAGIC + struct.pack("<5I", VERSION, data_len, 0, 0, 0) + b"\0" * HEADER_UNUSED
    path.write_bytes(header + xml.ljust(data_len, b"\0"))
