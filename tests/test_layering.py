"""The package layering the code relies on (read from the source with ``ast``, nothing imported):

- ``contract`` (result types, guest-layout form, backend protocol) imports only the standard
  library: everything else builds on it;
- ``oracle`` (the pure model of libvirt) imports only ``contract``, lxml and the standard library:
  never the harness that drives real builds (``virtfuzz``) nor the fuzzer (``fuzz``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {"contract": {"contract"}, "oracle": {"contract", "oracle", "lxml"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_is_below_it(package):
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    bad = [f"{f.relative_to(REPO)}: {m}" for f in files for m in sorted(_imports(f) - stdlib - ALLOWED[package])]
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_forbidden_import(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from virtfuzz.results import DefineResult\nimport fuzz.checks\nimport json\n")
    assert _imports(f) == {"virtfuzz", "fuzz", "json"}
