"""De-duplication signature of a failure: invariant + party + where/what class.

Two failures share a signature when they break the same invariant, by the same party, at the same
generic XPath (positional indexes dropped) or, for error-text disagreements, with the same error
class (numbers, quoted names and addresses blanked). Rationale: a maintainer wants one report per
root cause, not one per random input that trips it.
"""

from __future__ import annotations

import hashlib
import re

from fuzz.checks import Failure

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*\b")


def error_class(message: str | None) -> str:
    if not message:
        return ""
    return _NUMBER.sub("N", _QUOTED.sub("'…'", message))


def signature(f: Failure) -> str:
    # an oracle crash is keyed by the exception type and the line that raised it is not known here;
    # its message class (names and numbers blanked) is the closest stable key
    where = f.xpath or error_class(f.message)
    key = f"{f.invariant}|{f.party}|{where}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{f.invariant}-{f.party}-{digest}"
