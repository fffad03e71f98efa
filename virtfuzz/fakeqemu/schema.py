"""Delete what one of libvirt's QMP schema queries matches, so the flag it sets goes away.

libvirt 9.0.0 sets ~30 flags (``virQEMUCapsQMPSchemaQueries`` in src/qemu/qemu_capabilities.c)
by walking ``query-qmp-schema`` with paths like ``blockdev-add/arg-type/+file/drop-cache``.
This walks the same way (a port of ``virQEMUQAPISchemaTraverse`` in src/qemu/qemu_qapi.c) and
removes the last thing on the path: an object member, a union variant, an enum value, a
feature, or a whole command/event. Schema types are shared, so the deletion shows everywhere
that type is used, as it would in a QEMU that really lacked it.
"""

from __future__ import annotations

from typing import Any

JSON = Any


def _strip(q: str) -> tuple[str, str]:
    return (q[0], q[1:]) if q and not q[0].isalpha() else ("", q)


def _del_from(entry: dict[str, JSON], field: str, keep: Any) -> int:
    items = entry.get(field) or []
    kept = [x for x in items if keep(x)]
    entry[field] = kept
    return len(items) - len(kept)


def _traverse(types: dict[str, dict[str, JSON]], name: str | None, queries: list[str], depth: int = 0) -> int:
    if name is None or name not in types or depth > 1000:
        return 0
    cur = types[name]
    if not queries:
        return 0
    meta = cur.get("meta-type")
    q, rest = queries[0], queries[1:]
    mod, word = _strip(q)
    if meta in ("command", "event"):
        if mod == "$" and not rest:
            return _del_from(cur, "features", lambda f: f != word)
        if mod:
            return 0
        return _traverse(types, cur.get(word), rest, depth + 1)
    if meta == "object":
        if mod in ("^", "!"):
            return 0
        if mod == "$" and not rest:
            return _del_from(cur, "features", lambda f: f != word)
        if mod == "+":
            field, keyname = "variants", "case"
        else:
            field, keyname = "members", "name"
        found = next((x for x in cur.get(field) or [] if x.get(keyname) == word), None)
        if found is None or (mod == "*" and "default" not in found):
            return 0
        if not rest:
            return _del_from(cur, field, lambda x: x.get(keyname) != word)
        return _traverse(types, found.get("type"), rest, depth + 1)
    if meta == "array":
        return _traverse(types, cur.get("element-type"), queries, depth + 1)
    if meta == "enum":
        if mod != "^":
            return 0
        if rest:  # ^value/$feature: drop the feature of that enum member
            fmod, feature = _strip(rest[0])
            member = next((m for m in cur.get("members") or [] if m.get("name") == word), None)
            if fmod != "$" or member is None:
                return 0
            return _del_from(member, "features", lambda f: f != feature)
        n = _del_from(cur, "values", lambda v: v != word) if "values" in cur else 0
        if "members" in cur:
            n = max(n, _del_from(cur, "members", lambda m: m.get("name") != word))
        return n
    if meta == "alternate":
        for member in cur.get("members") or []:
            n = _traverse(types, member.get("type"), queries, depth + 1)
            if n:
                return n
    return 0


def delete(entries: list[dict[str, JSON]], path: str) -> tuple[list[dict[str, JSON]], int]:
    """Return (schema without what ``path`` matches, number of removed items)."""
    parts = path.split("/")
    if len(parts) == 1:
        kept = [e for e in entries if e.get("name") != parts[0]]
        return kept, len(entries) - len(kept)
    types = {e["name"]: e for e in entries if "name" in e}
    return entries, _traverse(types, parts[0], parts[1:])
