"""A recording compiled for serving: lookup tables of pre-serialised replies, stored with marshal.

Why: libvirt waits for every probe process, so the fake's start-up is on the critical path of
each new variant (x86 with KVM starts two). Importing ``json`` (and with it ``re`` and ``enum``),
parsing ~1 MB of pretty-printed JSON and serialising replies again cost ~150 ms per process;
loading pre-serialised bytes with ``marshal`` needs no imports and a few ms. Variants compile
once, when their wrapper is written.
"""

from __future__ import annotations

import json
import marshal
import os

from virtfuzz.fakeqemu import replies as replies_mod
from virtfuzz.fakeqemu.replies import Conversation
from virtfuzz.fakeqemu.server import COMPILED_FORMAT as FORMAT
from virtfuzz.fakeqemu.server import canon


def key(command: str, arguments: object) -> tuple[str, object]:
    return (command, canon(arguments or {}))


def reply_prefix(reply: dict) -> bytes:
    """The reply without its closing brace; the server appends the request's id."""
    text = json.dumps(reply)
    return text[:-1].encode()


def _recorded(conv: Conversation, command: str) -> dict | None:
    for ex in conv.main:
        if ex.command == command and "return" in ex.reply:
            return ex.reply["return"]
    return None


def compile_conversation(conv: Conversation, prefixes: list[bytes] | None = None) -> dict:
    """The serving tables for ``conv`` (already mutated, if the variant has mutations);
    ``prefixes``, if given, are the serialised replies of ``conv.exchanges()`` in order."""
    version = _recorded(conv, "query-version") or {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}
    kvm = _recorded(conv, "query-kvm") or {}
    target = _recorded(conv, "query-target") or {}
    serialised = iter(prefixes) if prefixes is not None else None
    sections: dict[str, dict] = {}
    for name, section in (("main", conv.main), ("tcg", conv.tcg)):
        table: dict = {}
        for ex in section:
            prefix = next(serialised) if serialised is not None else reply_prefix(ex.reply)
            table.setdefault(key(ex.command, ex.arguments), []).append(prefix)
        sections[name] = table
    return {
        "format": FORMAT,
        "qemu_arch": target.get("arch"),
        "kvm_recorded": bool(kvm.get("enabled") and kvm.get("present")),
        "kvm_off_reply": reply_prefix({"return": {**kvm, "enabled": False}}) if kvm else None,
        "greeting": json.dumps({"QMP": {"version": version, "capabilities": ["oob"]}}).encode() + b"\r\n",
        "main": sections["main"],
        "tcg": sections["tcg"],
    }


def dump(tables: dict, path: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        marshal.dump(tables, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# Parsed recordings kept per process (as marshal bytes, so each use gets fresh objects to mutate)
# with their serialised replies: a campaign makes many variants of the same few recordings.
_BASE: dict[str, tuple[bytes, list[bytes]]] = {}


def _base(path: str) -> tuple[bytes, list[bytes]]:
    st = os.stat(path)
    ident = f"{path}\0{st.st_size}\0{st.st_mtime_ns}"
    if ident not in _BASE:
        conv = replies_mod.load(path)
        _BASE[ident] = (marshal.dumps(conv.to_data()), [reply_prefix(ex.reply) for ex in conv.exchanges()])
    return _BASE[ident]


def compile_recording(path: str, mutation_list: list[dict]) -> dict:
    """Compile a recording with mutations, re-serialising only the replies a mutation replaced
    (mutations never edit a reply in place; see virtfuzz.fakeqemu.mutations)."""
    from virtfuzz.fakeqemu import mutations as mutations_mod

    data, prefixes = _base(path)
    conv = Conversation.from_data(marshal.loads(data))
    originals = [ex.reply for ex in conv.exchanges()]
    mutations_mod.apply(conv, mutation_list)
    fresh = [
        prefix if ex.reply is orig else reply_prefix(ex.reply)
        for ex, orig, prefix in zip(conv.exchanges(), originals, prefixes, strict=True)
    ]
    return compile_conversation(conv, fresh)
