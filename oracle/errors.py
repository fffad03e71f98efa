"""Exceptions of the oracle.

Two kinds of failure must never be confused:

- ``LibvirtError``: the *modelled* outcome -- libvirt itself would refuse the input, and ``str()``
  is the exact text of ``str(libvirt.libvirtError)`` (prefix included, e.g. ``"XML error: ..."``).
  The public API turns it into a result of kind ``'error'``; callers never see the exception.
- ``OracleInputError``: the oracle cannot answer (malformed XML, unknown arch/version/flag, or an
  input outside the modelled vocabulary). Raised to the caller with a one-line message naming the
  problem, because guessing would make the oracle lie.
"""

from __future__ import annotations

# virErrorNumber -> message prefix, as virErrorMsg() in libvirt 9.0.0 src/util/virerror.c prints it
# for a message with extra text.  VIR_ERR_XML_DETAIL has no prefix of its own.
PREFIX = {
    "XML_ERROR": "XML error: ",
    "CONFIG_UNSUPPORTED": "unsupported configuration: ",
    "INTERNAL_ERROR": "internal error: ",
    "OPERATION_UNSUPPORTED": "Operation not supported: ",
    "OPERATION_INVALID": "Requested operation is not valid: ",
    "XML_DETAIL": "",
    "DEVICE_MISSING": "device not found: ",
    "INVALID_ARG": "invalid argument: ",
}


class OracleInputError(ValueError):
    """The oracle cannot model this input (one line, names the problem)."""


class OracleUnsupported(OracleInputError):
    """Well-formed input, but it uses XML the oracle does not model (yet)."""


class LibvirtError(Exception):
    """libvirt would reject the input with exactly ``str(self)``."""

    def __init__(self, code: str, msg: str) -> None:
        self.code = code
        super().__init__(PREFIX[code] + msg)


def fresh_copy(e: LibvirtError) -> LibvirtError:
    """The same error (class, code, message) as a new exception object.  Memo tables keep
    errors and raise copies: a raised exception references the frames it passed through, which
    would keep whole parses alive (and make reference cycles for the garbage collector)."""
    c = type(e).__new__(type(e))
    Exception.__init__(c, *e.args)
    c.code = e.code
    return c
