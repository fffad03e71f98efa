"""Version profiles: the libvirt-version-dependent tables live in ``oracle/data/<profile>.json``.

``9.0.0.json`` is a complete profile.  Every other profile is written as the *differences* from a
neighbouring one::

    {"base": "9.0.0",
     "libvirt_version": "11.3.0",
     "changes": {"qemu": "10.0.13", "usb_default_rule": "...", ...},
     "sources": {"usb_default_rule": "src/qemu/qemu_postparse.c qemuDomainControllerDefPostParse", ...}}

``changes`` is merged over the base profile at load time: a dict merges key by key (recursively),
anything else (lists, strings, numbers) replaces the base value, ``null`` deletes the key.  Every
changed key must be cited in ``sources`` (libvirt's source file + function at that version, and
the NEWS entry where known): ``tests/test_oracle_profiles.py`` checks it.

Rules never compare versions: where libvirt's *logic* changed, the profile names the behaviour in
a switch (e.g. ``"usb_default_rule": "x86-piix3"``) that the rule reads, so a profile is data only.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from oracle.errors import OracleInputError

DEFAULT_PROFILE = "9.0.0"


@dataclass(frozen=True)
class Profile:
    version: str
    data: dict

    def usb_model_index(self, model: str) -> int:
        """libvirt's enum integer for a USB model (printed by ABI-check messages)."""
        return self.data["usb_models"].index(model)

    def rule(self, name: str) -> str:
        """The named behaviour switch ``name`` (e.g. ``usb_default_rule``) of this profile."""
        return self.data["rules"][name]


def known_profiles() -> list[str]:
    return sorted((p.name[:-5] for p in resources.files("oracle").joinpath("data").iterdir()
                   if p.name.endswith(".json")), key=lambda v: tuple(int(x) for x in v.split(".")))


def _read(name: str) -> dict:
    try:
        text = resources.files("oracle").joinpath("data", f"{name}.json").read_text()
    except FileNotFoundError:
        raise OracleInputError(f"unknown profile {name!r}; known: {', '.join(known_profiles())}") from None
    return json.loads(text)


def merge(base: dict, changes: dict) -> dict:
    """``changes`` over ``base``: dicts merge recursively, ``None`` deletes, the rest replaces."""
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_profile_data(name: str, _seen: tuple[str, ...] = ()) -> dict:
    """The profile's tables with every base merged in (a fresh dict on every call)."""
    if name in _seen:
        raise OracleInputError(f"profile {name!r}: base cycle {' -> '.join(_seen + (name,))}")
    raw = _read(name)
    if "base" not in raw:
        return raw
    data = merge(load_profile_data(raw["base"], _seen + (name,)), raw.get("changes", {}))
    data["libvirt_version"] = raw.get("libvirt_version", name)
    data.pop("_doc", None)
    return data


def profile_sources(name: str) -> tuple[str | None, dict, dict]:
    """(base, changes, sources) as written in ``data/<name>.json`` (no merging)."""
    raw = _read(name)
    return raw.get("base"), raw.get("changes", {}), raw.get("sources", {})


@cache
def get_profile(name: str = DEFAULT_PROFILE) -> Profile:
    return Profile(name, load_profile_data(name))
