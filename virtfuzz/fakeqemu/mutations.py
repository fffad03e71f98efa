"""Edits of a recorded probe conversation at the QMP level, as data.

Why at the QMP level: libvirt derives many capability flags from others and from the version
(e.g. a deleted QOM type also stops the property probes that depend on it). Editing what "QEMU"
says, rather than the resulting flag list, lets the real libvirt do that derivation itself, so a
variant stays self-consistent.

Every op replaces ``Exchange.reply`` with a new object instead of editing it in place: compiling
a variant re-serialises only the replies whose identity changed (virtfuzz.fakeqemu.compiled).

A mutation file is a JSON list of objects, each with an ``op``:

=====================  ==========================================  ==================================
op                     fields                                      effect
=====================  ==========================================  ==================================
``del-type``           ``name``                                    drop a QOM type from qom-list-types;
                                                                   its property queries fail like an
                                                                   unknown type (DeviceNotFound)
``del-command``        ``name``                                    drop a command from query-commands
                                                                   and the QMP schema; calls fail
``del-machine``        ``name``                                    drop a machine type (or just the
                                                                   alias, when ``name`` is an alias)
``del-property``       ``type`` (``*`` allowed), ``name``          drop a property from a type's
                                                                   device-/qom-list-properties reply
``del-cmdline``        ``option``, optional ``param``              drop a query-command-line-options
                                                                   option, or one of its parameters
``del-migration-cap``  ``name``                                    drop a migration capability
``del-tpm``            ``kind`` (``model``/``type``), ``name``     drop a TPM model or backend type
``del-cpu-model``      ``name``                                    drop a CPU model from
                                                                   query-cpu-definitions
``del-schema``         ``path`` (libvirt schema query syntax)      drop what the query matches in
                                                                   query-qmp-schema (see schema.py)
``set-version``        ``version`` "X.Y.Z", optional ``package``   change what query-version reports
=====================  ==========================================  ==================================
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from virtfuzz.fakeqemu.replies import Conversation, Exchange

JSON = Any
Mutation = dict[str, JSON]


class MutationError(ValueError):
    """A mutation is malformed or does not apply to the recording."""


def load(path: str | Path) -> list[Mutation]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise MutationError(f"{path}: expected a JSON list of mutations")
    return data


def _returns(conv: Conversation, command: str) -> list[Exchange]:
    return [ex for ex in conv.exchanges() if ex.command == command and "return" in ex.reply]


def _filter_return(conv: Conversation, command: str, keep: Callable[[JSON], bool]) -> int:
    """Filter the list each ``command`` reply returns; returns how many entries were removed."""
    removed = 0
    for ex in _returns(conv, command):
        before = ex.reply["return"]
        after = [item for item in before if keep(item)]
        removed += len(before) - len(after)
        ex.reply = {**ex.reply, "return": after}
    return removed


def _del_type(conv: Conversation, m: Mutation) -> int:
    name = m["name"]
    n = _filter_return(conv, "qom-list-types", lambda t: t.get("name") != name)
    for ex in conv.exchanges():
        if ex.command in ("device-list-properties", "qom-list-properties") and (
            (ex.arguments or {}).get("typename") == name
        ):
            ex.reply = {"error": {"class": "DeviceNotFound", "desc": f"Device '{name}' not found"}}
            n += 1
    return n


def _del_command(conv: Conversation, m: Mutation) -> int:
    name = m["name"]
    n = _filter_return(conv, "query-commands", lambda c: c.get("name") != name)
    n += _filter_return(
        conv, "query-qmp-schema", lambda e: not (e.get("meta-type") == "command" and e.get("name") == name)
    )
    for ex in conv.exchanges():
        if ex.command == name:
            desc = f"The command {name} has not been found"
            ex.reply = {"error": {"class": "CommandNotFound", "desc": desc}}
    return n


def _del_machine(conv: Conversation, m: Mutation) -> int:
    name = m["name"]
    n = 0
    for ex in _returns(conv, "query-machines"):
        out = []
        for mach in ex.reply["return"]:
            if mach.get("name") == name:
                n += 1
                continue
            if mach.get("alias") == name:
                mach = {k: v for k, v in mach.items() if k != "alias"}
                n += 1
            out.append(mach)
        ex.reply = {**ex.reply, "return": out}
    return n


def _del_property(conv: Conversation, m: Mutation) -> int:
    typename, name = m["type"], m["name"]
    # a pattern for machine types, whose QOM name is "<canonical machine>-machine"
    match = (lambda t: fnmatch.fnmatchcase(t, typename)) if "*" in typename else typename.__eq__
    n = 0
    for ex in conv.exchanges():
        if (
            ex.command in ("device-list-properties", "qom-list-properties")
            and match(str((ex.arguments or {}).get("typename")))
            and "return" in ex.reply
        ):
            before = ex.reply["return"]
            after = [p for p in before if p.get("name") != name]
            n += len(before) - len(after)
            ex.reply = {**ex.reply, "return": after}
    return n


def _del_cmdline(conv: Conversation, m: Mutation) -> int:
    option, param = m["option"], m.get("param")
    if param is None:
        return _filter_return(conv, "query-command-line-options", lambda o: o.get("option") != option)
    n = 0
    for ex in _returns(conv, "query-command-line-options"):
        out = []
        for opt in ex.reply["return"]:
            if opt.get("option") == option:
                params = [p for p in opt.get("parameters", []) if p.get("name") != param]
                n += len(opt.get("parameters", [])) - len(params)
                opt = {**opt, "parameters": params}
            out.append(opt)
        ex.reply = {**ex.reply, "return": out}
    return n


def _del_migration_cap(conv: Conversation, m: Mutation) -> int:
    return _filter_return(conv, "query-migrate-capabilities", lambda c: c.get("capability") != m["name"])


def _del_tpm(conv: Conversation, m: Mutation) -> int:
    kind = m["kind"]
    if kind not in ("model", "type"):
        raise MutationError(f"del-tpm: kind must be 'model' or 'type', not {kind!r}")
    return _filter_return(conv, f"query-tpm-{kind}s", lambda v: v != m["name"])


def _del_schema(conv: Conversation, m: Mutation) -> int:
    from virtfuzz.fakeqemu import schema

    n = 0
    for ex in _returns(conv, "query-qmp-schema"):
        entries, removed = schema.delete(ex.reply["return"], m["path"])
        ex.reply = {**ex.reply, "return": entries}
        n += removed
    return n


def _del_cpu_model(conv: Conversation, m: Mutation) -> int:
    return _filter_return(conv, "query-cpu-definitions", lambda c: c.get("name") != m["name"])


def _set_version(conv: Conversation, m: Mutation) -> int:
    try:
        major, minor, micro = (int(x) for x in str(m["version"]).split("."))
    except ValueError as exc:
        raise MutationError(f"set-version: version must be X.Y.Z, not {m['version']!r}") from exc
    n = 0
    for ex in _returns(conv, "query-version"):
        ret = {**ex.reply["return"], "qemu": {"micro": micro, "minor": minor, "major": major}}
        ret["package"] = m.get("package", f"v{major}.{minor}.{micro}")
        ex.reply = {**ex.reply, "return": ret}
        n += 1
    return n


OPS: dict[str, tuple[Callable[[Conversation, Mutation], int], tuple[str, ...]]] = {
    "del-type": (_del_type, ("name",)),
    "del-command": (_del_command, ("name",)),
    "del-machine": (_del_machine, ("name",)),
    "del-property": (_del_property, ("type", "name")),
    "del-cmdline": (_del_cmdline, ("option",)),
    "del-migration-cap": (_del_migration_cap, ("name",)),
    "del-tpm": (_del_tpm, ("kind", "name")),
    "del-schema": (_del_schema, ("path",)),
    "del-cpu-model": (_del_cpu_model, ("name",)),
    "set-version": (_set_version, ("version",)),
}


def apply_one(conv: Conversation, m: Mutation) -> int:
    """Apply one mutation in place; returns how many recorded items it changed (0 = no-op)."""
    op = m.get("op")
    if op not in OPS:
        raise MutationError(f"unknown mutation op {op!r}; known: {', '.join(sorted(OPS))}")
    fn, required = OPS[op]
    missing = [f for f in required if f not in m]
    if missing:
        raise MutationError(f"{op}: missing field(s) {', '.join(missing)}")
    return fn(conv, m)


def apply(conv: Conversation, mutations: Sequence[Mutation]) -> Conversation:
    """Apply ``mutations`` to ``conv`` in place (a copy would cost more than the whole probe
    parse) and return it. Mutations that match nothing are allowed: a flag's QMP source may simply
    be absent from an older recording, which is already the state the caller wants."""
    for m in mutations:
        apply_one(conv, m)
    return conv
