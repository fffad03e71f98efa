"""Memo tables for the oracle's pure intermediate results, and when they may be used.

A definition parsed and post-parsed from an XML string, under one capability set and profile,
is a pure function of those inputs -- as long as the *rules* are the shipped ones.  The fuzz
campaign asks for the same ones many times (a stored XML is redefined, reloaded and hotplugged;
a migratable XML is reloaded and is the source of two ABI checks), so the oracle keeps them.

Two conditions make a memo answer identical to a fresh one:

- Keys are the exact inputs (XML text, CapSet identity -- each entry holds its CapSet, so the id
  stays unique --, profile version, parse mode) and values are never mutated after they are
  stored (see oracle.pipeline.Definition).
- The rules have not been changed in-process.  bench/mutants.py does exactly that (it patches
  rule functions, ``CapSet.has`` and the profile tables) and expects changed answers, so memo
  tables are only used inside a :func:`session` that verified on entry that every oracle module
  namespace and class dictionary still holds the objects it held at import time and that the
  profile tables equal their JSON files.  While anything differs, tables are neither read nor
  written, which is the old behaviour exactly.

Sessions are opened by batch callers (the oracle backend's ``*_many`` methods); plain API calls
outside a session never memoise.
"""

from __future__ import annotations

import operator
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from oracle.profile import load_profile_data

_STATE = threading.local()
_SNAPSHOT: list[tuple[Callable[[str], object], tuple[str, ...], tuple[object, ...]]] = []
_PRISTINE_PROFILES: dict[str, dict] = {}


class Lru:
    """A bounded least-recently-used table (the campaign's working set is one batch); safe to
    share between threads (sessions themselves are per thread)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._d[key] = value
            if len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


TABLES: list[Lru] = []


def table(size: int) -> Lru:
    t = Lru(size)
    TABLES.append(t)
    return t


def snapshot_rules() -> None:
    """Record every oracle module namespace and every class dictionary defined in them (called
    once, from oracle/__init__.py after all modules are imported: nothing can have patched them
    yet)."""
    _SNAPSHOT.clear()
    names = sorted(n for n in sys.modules if n == "oracle" or n.startswith("oracle."))
    for name in names:
        spaces = [vars(sys.modules[name])]
        for v in list(spaces[0].values()):
            if isinstance(v, type) and v.__module__ == name:
                spaces.append(vars(v))
        for ns in spaces:
            keys = tuple(k for k in ns if not (k.startswith("__") and k.endswith("__")))
            _SNAPSHOT.append((ns.get, keys, tuple(ns[k] for k in keys)))


def _pristine_profile(version: str) -> dict:
    if version not in _PRISTINE_PROFILES:
        _PRISTINE_PROFILES[version] = load_profile_data(version)
    return _PRISTINE_PROFILES[version]


def rules_intact() -> bool:
    """True when every oracle function and class is the one imported (profile tables are
    checked per profile, by :func:`usable`)."""
    if not _SNAPSHOT:
        return False
    is_ = operator.is_
    return all(all(map(is_, map(get, keys), values)) for get, keys, values in _SNAPSHOT)


def _profile_intact(prof) -> bool:
    return prof.data == _pristine_profile(prof.version)


def active() -> bool:
    """Whether memo tables may be used now (inside a session whose rule check passed)."""
    return getattr(_STATE, "active", False)


def usable(prof) -> bool:
    """Whether memo tables may be used for a call under profile ``prof`` (its tables are
    compared with the JSON file once per session and Profile object)."""
    if not getattr(_STATE, "active", False):
        return False
    checked = _STATE.profiles
    seen = checked.get(id(prof))
    if seen is None:
        seen = checked[id(prof)] = (prof, _profile_intact(prof))  # holds prof: the id stays unique
    return seen[1]


@contextmanager
def session() -> Iterator[None]:
    """A span of oracle calls during which the rules do not change (one backend batch): memo
    tables are used if the rules are intact on entry."""
    prev = active(), getattr(_STATE, "profiles", {})
    _STATE.active, _STATE.profiles = rules_intact(), {}
    try:
        yield
    finally:
        _STATE.active, _STATE.profiles = prev


def clear() -> None:
    for t in TABLES:
        t.clear()
