"""Reading user-supplied domain XML files, with one-line errors that name the file.

Bad input is a usage problem (exit status 2), distinct from libvirt rejecting a well-formed
definition (exit status 1): users script against that difference.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

# Architecture names libvirt knows (libvirt 9.0.0 src/util/virarch.c, virArchData). A domain naming
# anything else is bad input; a known arch without an installed emulator is libvirt's verdict.
LIBVIRT_ARCHES = frozenset("""
none alpha armv6l armv7l armv7b aarch64 cris i686 ia64 lm32 loongarch64 m68k microblaze microblazeel
mips mipsel mips64 mips64el openrisc parisc parisc64 ppc ppcle ppc64 ppc64le ppcemb riscv32 riscv64
s390 s390x sh4 sh4eb sparc sparc64 unicore32 x86_64 xtensa xtensaeb
""".split())


class InputError(Exception):
    """A one-line description of bad input, naming the file."""


def parse_domain(text: str | bytes, where: str) -> etree._Element:
    try:
        root = etree.fromstring(text.encode() if isinstance(text, str) else text)
    except etree.XMLSyntaxError as e:
        raise InputError(f"{where}: malformed XML at line {e.lineno}: {e.msg}") from None
    if root.tag != "domain":
        raise InputError(f"{where}: root element is <{root.tag}>, expected <domain>")
    ostype = root.find("os/type")
    arch = ostype.get("arch") if ostype is not None else None
    if arch and arch not in LIBVIRT_ARCHES:
        raise InputError(f"{where}: unknown arch {arch!r}")
    return root


def read_domain_file(path: str | Path) -> str:
    """Text of a domain XML file after checking it is readable, well-formed and names a known arch."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    parse_domain(data, str(p))
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8: {e}") from None


def domain_arch(xml: str) -> str | None:
    root = etree.fromstring(xml.encode())
    t = root.find("os/type")
    return t.get("arch") if t is not None else None
