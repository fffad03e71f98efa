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


# Room for a longer destination XML: qemuSaveImageUpdateDef refuses a new definition whose
# formatted XML is longer than the image's XML area ("new xml too large to fit in file"), which
# is the harness's limit, not an ABI verdict; a destination that re-adds defaults (another build)
# formats longer XML than the source sent.
XML_SLACK = 64 * 1024


def write_save_image(path: Path, domain_xml: str) -> None:
    """Write a header + XML image whose XML is ``domain_xml`` (a migratable inactive definition)."""
    xml = domain_xml.encode() + b"\0"
    data_len = len(xml) + XML_SLACK
    data_len += (-data_len) % 512
    header = MAGIC + struct.pack("<5I", VERSION, data_len, 0, 0, 0) + b"\0" * HEADER_UNUSED
    path.write_bytes(header + xml.ljust(data_len, b"\0"))
