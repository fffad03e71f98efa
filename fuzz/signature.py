"""De-duplication signature of a failure: a function of the behaviour only.

Two failures share a signature when they break the same invariant, by the same party, at the same
class of first difference: the XPath of the first differing node with element identity and no
list positions (``xmldiff`` labels a step ``controller[@type='usb']`` and matches elements by
identity), or, for failures without an XPath, the message class: quoted names, numbers, absolute
paths and UUIDs blanked. Never a seed, a PID, a domain name, a UUID, a file path or the location
of a fake-QEMU variant. Rationale: a maintainer wants one report per root cause, not one per
random input that trips it, and a triaged finding must stay known on any machine.

``behaviour_key`` is the same key without the party: the oracle reproducing a known libvirt
misbehaviour faithfully is that known finding ("known, reproduced by the oracle"), not a new one.
"""

from __future__ import annotations

import hashlib
import re

from fuzz.checks import Failure

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_PATH = re.compile(r"(?<![\w.])/(?:[\w.+@-]+/)*[\w.+@-]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*\b")


def error_class(message: str | None) -> str:
    """A message with what varies between inputs blanked: UUIDs, absolute paths, quoted names, numbers."""
    if not message:
        return ""
    text = _UUID.sub("UUID", message)
    text = _PATH.sub("PATH", text)
    return _NUMBER.sub("N", _QUOTED.sub("'…'", text))


def where(f: Failure) -> str:
    """The class of the first difference: its generic XPath, else the message class."""
    return f.xpath or error_class(f.message)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def signature(f: Failure) -> str:
    return f"{f.invariant}-{f.party}-{_digest(f'{f.invariant}|{f.party}|{where(f)}')}"


def behaviour_key(f: Failure) -> str:
    """The signature's key without the party (see the module docstring)."""
    return f"{f.invariant}|{where(f)}"
