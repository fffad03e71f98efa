"""docs/tests.md says, per test file, what each test function would catch: it must stay complete.

The test functions are read from the test files' syntax (``ast``: module-level functions and
methods of classes named ``test_*``, what pytest collects with this project's defaults), not by
importing or collecting them, so a file that fails to import is still checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "tests.md"

_SECTION = re.compile(r"^### (test_\w+\.py)\b")
_ENTRY = re.compile(r"^- `(test_\w+)")


def defined_tests(tests: Path = TESTS) -> dict[str, set[str]]:
    """Test file name -> the test functions it defines."""
    out: dict[str, set[str]] = {}
    for f in sorted(tests.glob("test_*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        names: set[str] = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                names |= {n.name for n in node.body
                          if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")}
        out[f.name] = names
    return out


def documented_tests(text: str) -> dict[str, set[str]]:
    """Test file name -> the test functions its ``### file`` section has a ``- `test_...``` line for."""
    out: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            m = _SECTION.match(line)
            current = m.group(1) if m else None
            if current is not None:
                out.setdefault(current, set())
            continue
        m = _ENTRY.match(line)
        if m and current is not None:
            out[current].add(m.group(1))
    return out


def differences(defined: dict[str, set[str]], documented: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(tests without a line, lines naming no test), as ``file::name``."""
    missing = [f"{f}::{n}" for f in sorted(defined) for n in sorted(defined[f] - documented.get(f, set()))]
    stale = [f"{f}::{n}" for f in sorted(documented) for n in sorted(documented[f] - defined.get(f, set()))]
    stale += [f"{f} (a section for a file that does not exist)" for f in sorted(documented) if f not in defined]
    return missing, stale


def test_every_test_function_has_its_line_in_docs_tests_md() -> None:
    defined = defined_tests()
    assert sum(len(v) for v in defined.values()) > 150, "the test files were not read"
    missing, stale = differences(defined, documented_tests(DOC.read_text(encoding="utf-8")))
    assert not missing, f"{len(missing)} test function(s) without a line in docs/tests.md: " + ", ".join(missing)
    assert not stale, f"docs/tests.md names {len(stale)} test(s) that do not exist: " + ", ".join(stale)


def test_the_check_catches_a_missing_and_a_stale_line(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text(
        "import pytest\n\n\ndef test_one():\n    pass\n\n\n@pytest.mark.parametrize('x', [1])\n"
        "def test_two(x):\n    def test_nested():\n        pass\n\n\n"
        "class TestC:\n    def test_m(self):\n        pass\n\n\ndef helper():\n    pass\n")
    defined = defined_tests(tmp_path)
    assert defined == {"test_a.py": {"test_one", "test_two", "test_m"}}
    doc = ("## Per file\n\n### test_a.py (what it is)\n- `test_one`: fails if ...\n- `test_two[x]`: fails if ...\n"
           "- `test_m`: ...\n\n### test_b.py\n- `test_gone`: ...\n")
    assert differences(defined, documented_tests(doc)) == ([], ["test_b.py::test_gone",
                                                                "test_b.py (a section for a file that does not exist)"])
    short = doc.replace("- `test_two[x]`: fails if ...\n", "").replace("### test_b.py\n- `test_gone`: ...\n", "")
    assert differences(defined, documented_tests(short)) == (["test_a.py::test_two"], [])
    # a line under another file's section does not count for this one
    moved = short + "### test_other.py\n- `test_two`: ...\n"
    assert differences(defined, documented_tests(moved))[0] == ["test_a.py::test_two"]
