"""Read and write libvirt's ``.replies`` format: recorded QMP request/reply pairs in probe order.

Why a parser of our own: the fake QEMU answers each request libvirt sends during its capability
probe from such a file, and the recorder writes them, so both need the same data model. libvirt
9.0.0's files (``tests/qemucapabilitiesdata/caps_*.replies``) are a sequence of pretty-printed
JSON objects separated by blank lines, alternating request (``{"execute": ..., "id": ...}``) and
reply (``{"return": ...}`` or ``{"error": ...}``). When the recording covered KVM, a second
``qmp_capabilities`` starts the section libvirt recorded from its second, TCG-only process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = Any


class RepliesError(ValueError):
    """The file is not a well-formed ``.replies`` conversation."""


@dataclass
class Exchange:
    """One recorded request and its reply."""

    command: str
    arguments: dict[str, JSON] | None
    reply: dict[str, JSON]

    def key(self) -> str:
        """Identity used to match a live request: command plus canonical arguments."""
        return request_key(self.command, self.arguments)


@dataclass
class Conversation:
    """A recorded probe: the main section and, if KVM was recorded, the TCG-only section."""

    main: list[Exchange] = field(default_factory=list)
    tcg: list[Exchange] = field(default_factory=list)

    def sections(self) -> Iterator[list[Exchange]]:
        yield self.main
        yield self.tcg

    def exchanges(self) -> Iterator[Exchange]:
        for section in self.sections():
            yield from section

    def to_data(self) -> dict[str, JSON]:
        return {"main": [_ex_to_data(e) for e in self.main], "tcg": [_ex_to_data(e) for e in self.tcg]}

    @classmethod
    def from_data(cls, data: dict[str, JSON]) -> Conversation:
        return cls(main=[_ex_from_data(d) for d in data["main"]], tcg=[_ex_from_data(d) for d in data["tcg"]])


def request_key(command: str, arguments: dict[str, JSON] | None) -> str:
    """Canonical form of a request; argument order and an empty argument object do not matter."""
    return command + " " + json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"))


def _ex_to_data(e: Exchange) -> dict[str, JSON]:
    return {"command": e.command, "arguments": e.arguments, "reply": e.reply}


def _ex_from_data(d: dict[str, JSON]) -> Exchange:
    return Exchange(d["command"], d["arguments"], d["reply"])


def iter_json_objects(text: str) -> Iterator[dict[str, JSON]]:
    """Yield consecutive JSON objects from ``text`` regardless of the whitespace between them."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise RepliesError(f"bad JSON at offset {exc.pos}: {exc.msg}") from exc
        if not isinstance(obj, dict):
            raise RepliesError(f"expected a JSON object before offset {pos}")
        yield obj


def parse(text: str) -> Conversation:
    """Parse a ``.replies`` text into a :class:`Conversation`."""
    conv = Conversation()
    section = conv.main
    pending: dict[str, JSON] | None = None
    seen_caps = False
    for obj in iter_json_objects(text):
        if pending is None:
            if "event" in obj:  # an asynchronous event recorded between exchanges: not replayed
                continue
            if "execute" not in obj:
                raise RepliesError(f"expected a request, got keys {sorted(obj)}")
            if obj["execute"] == "qmp_capabilities":
                if seen_caps:
                    section = conv.tcg
                seen_caps = True
            pending = obj
            continue
        if "event" in obj:
            continue
        if "return" not in obj and "error" not in obj:
            raise RepliesError(f"expected a reply to {pending['execute']}, got keys {sorted(obj)}")
        reply = {k: v for k, v in obj.items() if k != "id"}
        section.append(Exchange(pending["execute"], pending.get("arguments"), reply))
        pending = None
    if pending is not None:
        raise RepliesError(f"request {pending['execute']} has no reply")
    if not conv.main:
        raise RepliesError("no exchanges")
    return conv


def load(path: str | Path) -> Conversation:
    return parse(Path(path).read_text(encoding="utf-8"))


def _pretty(value: JSON, indent: int) -> str:
    """libvirt's pretty printer (virJSONValueToString): 2-space indent, empty containers split."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        if not value:
            return "{\n" + pad + "}"
        items = [f"{inner}{json.dumps(k)}: {_pretty(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[\n" + pad + "]"
        items = [inner + _pretty(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)


def format_messages(messages: Iterable[dict[str, JSON]]) -> str:
    """Format request/reply objects the way libvirt's recorded files are laid out."""
    return "\n\n".join(_pretty(m, 0) for m in messages) + "\n"


def format_conversation(conv: Conversation) -> str:
    """Serialise a conversation back to ``.replies`` text, numbering ids like libvirt does
    (each section was a separate QEMU process, so numbering restarts)."""
    messages: list[dict[str, JSON]] = []
    for n, ex in (item for sec in conv.sections() for item in enumerate(sec, start=1)):
        req: dict[str, JSON] = {"execute": ex.command}
        if ex.arguments is not None:
            req["arguments"] = ex.arguments
        req["id"] = f"libvirt-{n}"
        ident = {"id": f"libvirt-{n}"}
        # QEMU puts "id" before "error" but after "return"; keep that so files diff cleanly.
        messages += [req, {**ident, **ex.reply} if "error" in ex.reply else {**ex.reply, **ident}]
    return format_messages(messages)
