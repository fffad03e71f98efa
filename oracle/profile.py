"""Version profiles: the libvirt-version-dependent tables live in ``oracle/data/<profile>.json``.

Only "9.0.0" exists today; a historic era is added by writing another JSON file and, where the
*logic* changed, branching on ``Profile.version`` in the rule that changed.
"""

from __future__ import annotations

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


@cache
def get_profile(name: str = DEFAULT_PROFILE) -> Profile:
    try:
        text = resources.files("oracle").joinpath("data", f"{name}.json").read_text()
    except FileNotFoundError:
        avail = sorted(p.name[:-5] for p in resources.files("oracle").joinpath("data").iterdir()
                       if p.name.endswith(".json"))
        raise OracleInputError(f"unknown profile {name!r}; known: {', '.join(avail)}") from None
    return Profile(name, json.loads(text))
