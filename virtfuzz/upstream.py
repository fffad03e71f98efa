"""Run the exported corpus inside libvirt's own test programs (``tox -e upstream``).

``python -m virtfuzz.upstream [--libvirt 9.0.0|11.3.0] [--out DIR] [--export DIR]``: libvirt 9.0.0
(the host's, default; ``--out`` default ``out/upstream``) runs qemuxml2xmltest and qemuxml2argvtest
with the ``libvirt-9.0`` export; 11.3.0 (``--out`` default ``out/upstream/11.3.0``) runs
qemuxmlconftest with the ``libvirt-11`` export, built from Debian trixie's source package on this
host (the private apt configuration names trixie; the package version comes from
``builds/11.3.0.toml``):

1. ``scripts/upstream-build.sh``: Debian's full libvirt source package of the installed build,
   patched, configured with only the QEMU driver and the tests (cached in
   ``$VIRTFUZZ_DATA_DIR/upstream/<version>/``);
2. ``virtfuzz export --layout libvirt-9.0 --args-from-libvirt`` into ``OUT/export`` (or use
   ``--export DIR``, an export made earlier, possibly edited: that is how the test shows a changed
   expected output fails). ``--arch A``, ``--limit N``, ``--shipped-only`` pass to the export;
   ``--no-start-args`` leaves out the command-line tests of the stored definitions;
3. inserts the export into the source tree's ``tests/`` (data files; the two macro files as
   ``tests/virtfuzz/<program>.inc``, ``#include``d inside ``mymain()`` after upstream's own
   cases), removing what an earlier run inserted; ninja builds the two programs and their mock
   libraries (incrementally: a cached build recompiles only the two programs' main files);
4. runs both (``VIR_TEST_VERBOSE=1``) and writes ``OUT/summary.json``
   ``{"libvirt", "cases", "passed", "failed": [...], "arches": [...], "programs": {...}, ...}``.
   A case passes when every test made of it passes. Exit 0 when all pass, 1 otherwise, 2 when the
   build or the programs could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from virtfuzz.atomic import write_text

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = {
    # program -> the line of mymain() the macro file is included before (it occurs once)
    "qemuxml2xmltest": "\n cleanup:\n",
    "qemuxml2argvtest": '\n    if (getenv("LIBVIRT_SKIP_CLEANUP") == NULL)\n',
}
DATA_DIRS = ("qemuxml2argvdata", "qemuxml2xmloutdata", "qemucapabilitiesdata")
#: per export layout: its programs (with their anchors) and data directories
LAYOUTS = {
    "libvirt-9.0": (PROGRAMS, DATA_DIRS),
    "libvirt-11": ({"qemuxmlconftest": "\n    /* check that all input files were actually used here */\n"},
                   ("qemuxmlconfdata", "qemucapabilitiesdata")),
}
#: libvirt version -> (export layout, Debian suite of its source package)
VERSIONS = {"9.0.0": ("libvirt-9.0", "bookworm"), "11.3.0": ("libvirt-11", "trixie")}
RESULT = re.compile(r"^\s*\d+\) (.+?)\s+\.\.\. (?:.|\n)*?(OK|FAILED|SKIP)$", re.M)


def build(libvirt: str | None = None) -> Path:
    """The cached build's top directory (src/, build/), built first if missing: the host's libvirt
    (None, 9.0.0), or another version of ``VERSIONS`` from its suite's source package."""
    env = dict(os.environ)
    if libvirt and libvirt != "9.0.0":
        import tomllib

        desc = tomllib.loads((REPO / "builds" / f"{libvirt}.toml").read_text())
        env.update(VIRTFUZZ_LIBVIRT_DEB_VERSION=desc["packages"]["libvirt0"], VIRTFUZZ_UPSTREAM_SUITE=desc["suite"])
    proc = subprocess.run(["bash", str(REPO / "scripts" / "upstream-build.sh")], stdout=subprocess.PIPE,
                          text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/upstream-build.sh failed (exit {proc.returncode})")
    return Path(proc.stdout.strip().splitlines()[-1])


def layout_of(export: Path) -> str:
    return json.loads((export / "manifest.json").read_text()).get("layout", "libvirt-9.0")


def insert(export: Path, top: Path, tests: Path | None = None) -> None:
    """Put the export into the source tree's tests/, replacing an earlier run's insertion."""
    tests = tests or top / "src" / "tests"
    programs, data_dirs = LAYOUTS[layout_of(export)]
    record = top / "inserted.txt"
    if record.exists():
        for rel in record.read_text().splitlines():
            (tests / rel).unlink(missing_ok=True)
    inserted = []
    for d in data_dirs:
        for f in sorted((export / d).glob("*")) if (export / d).is_dir() else ():
            rel = f"{d}/{f.name}"
            if (tests / rel).exists():
                raise RuntimeError(f"{rel}: the export would overwrite a file of libvirt's own")
            shutil.copyfile(f, tests / rel)
            inserted.append(rel)
    write_text(record, "\n".join(inserted) + "\n")
    (tests / "virtfuzz").mkdir(exist_ok=True)
    for prog, anchor in programs.items():
        inc = tests / "virtfuzz" / f"{prog}.inc"
        new = (export / f"{prog}.inc").read_text()
        if not inc.exists() or inc.read_text() != new:  # unchanged: ninja need not recompile
            write_text(inc, new)
        src = tests / f"{prog}.c"
        text = src.read_text()
        line = f'#include "virtfuzz/{prog}.inc"'
        if line not in text:
            if text.count(anchor) != 1:
                raise RuntimeError(f"{src}: cannot find where mymain() ends")
            text = text.replace(anchor, f"\n    /* the virtfuzz regression corpus */\n{line}\n{anchor[1:]}")
            src.write_text(text)


def run_program(top: Path, prog: str, log: Path) -> tuple[dict[str, str], int]:
    """Each test's status by title, and the exit status."""
    env = dict(os.environ, VIR_TEST_VERBOSE="1")
    env.pop("VIR_TEST_DEBUG", None)
    env.pop("VIR_TEST_REGENERATE_OUTPUT", None)
    with open(log, "w") as f:
        rc = subprocess.run([str(top / "build" / "tests" / prog)], stdout=f, stderr=subprocess.STDOUT,
                            cwd=top / "build" / "tests", env=env).returncode
    return {title: status for title, status in RESULT.findall(log.read_text())}, rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="virtfuzz-upstream", description=__doc__.split("\n\n")[0])
    p.add_argument("--libvirt", default="9.0.0", choices=sorted(VERSIONS),
                   help="whose test programs: 9.0.0 (the host's) or 11.3.0 (qemuxmlconftest)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="default out/upstream (9.0.0), out/upstream/VERSION (others)")
    p.add_argument("--export", default=None, metavar="DIR", help="an existing export (default: export now)")
    p.add_argument("--insert-into", default=None, metavar="LIBVIRT_SRC",
                   help="only insert --export DIR into this libvirt source tree's tests/ (for a CI of libvirt's own)")
    args, export_args = p.parse_known_args(argv)
    if args.insert_into:
        if not args.export:
            p.error("--insert-into needs --export DIR")
        src = Path(args.insert_into)
        try:
            insert(Path(args.export), src, src / "tests")
        except RuntimeError as e:
            print(f"upstream: {e}", file=sys.stderr)
            return 2
        print(f"inserted {args.export} into {src / 'tests'} (the list of files: {src / 'inserted.txt'})")
        return 0
    layout = VERSIONS[args.libvirt][0]
    programs = LAYOUTS[layout][0]
    out = Path(args.out or (REPO / "out" / "upstream" / ("" if args.libvirt == "9.0.0" else args.libvirt)))
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        top = build(args.libvirt)
    except RuntimeError as e:
        print(f"upstream: {e}", file=sys.stderr)
        return 2
    timing["prepare_s"] = round(time.monotonic() - t0, 1)
    export = Path(args.export) if args.export else out / "export"
    if not args.export:
        shutil.rmtree(export, ignore_errors=True)
        from virtfuzz.commands.export import export as do_export

        opts = argparse.ArgumentParser(add_help=False)
        opts.add_argument("--arch", action="append", default=None)
        opts.add_argument("--limit", type=int, default=None)
        opts.add_argument("--shipped-only", action="store_true")
        opts.add_argument("--no-start-args", action="store_true")
        o = opts.parse_args(export_args)
        try:
            if layout == "libvirt-11":  # its command lines come from the 11.3.0 build's root
                from virtfuzz.commands import export11

                export11.export(export, shipped_only=o.shipped_only, arches=o.arch, limit=o.limit)
            else:
                do_export(export, shipped_only=o.shipped_only, arches=o.arch, limit=o.limit,
                          args_from_libvirt=not o.no_start_args)
        except Exception as e:  # e.g. the build whose command lines the export records is not installed
            print(f"upstream: the export failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
    elif export_args:
        p.error(f"unexpected arguments with --export: {' '.join(export_args)}")
    manifest = json.loads((export / "manifest.json").read_text())
    if manifest.get("layout", "libvirt-9.0") != layout:
        p.error(f"--export {export}: a {manifest.get('layout')} export, libvirt {args.libvirt} runs {layout}")
    libvirt = top.name
    t1 = time.monotonic()
    try:
        insert(export, top)
        targets = subprocess.run(["ninja", "-C", str(top / "build"), "-t", "targets", "all"],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout
        mocks = sorted(set(re.findall(r"^(tests/lib\w*mock\.so):", targets, re.M)))
        jobs = ["-j", os.environ["VIRTFUZZ_UPSTREAM_JOBS"]] if os.environ.get("VIRTFUZZ_UPSTREAM_JOBS") else []
        proc = subprocess.run(["ninja", *jobs, "-C", str(top / "build"), *(f"tests/{p}" for p in programs), *mocks],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        (out / "ninja.log").write_text(proc.stdout)
        if proc.returncode != 0:
            print(f"upstream: the test programs did not build with the export: {out / 'ninja.log'}", file=sys.stderr)
            return 2
    except RuntimeError as e:
        print(f"upstream: {e}", file=sys.stderr)
        return 2
    timing["build_s"] = round(time.monotonic() - t1, 1)
    t2 = time.monotonic()
    counts = {}
    status: dict[str, str] = {}
    for prog in programs:
        results, rc = run_program(top, prog, out / f"{prog}.log")
        ours = {t: s for t, s in results.items() if " virtfuzz-" in t}
        upstream_failed = sorted(t for t, s in results.items() if s == "FAILED" and t not in ours)
        counts[prog] = {"exit": rc, "tests": len(ours), "passed": sum(s == "OK" for s in ours.values()),
                          "failed": sum(s == "FAILED" for s in ours.values()),
                          "skipped": sum(s == "SKIP" for s in ours.values()),
                          "upstream_tests": len(results) - len(ours), "upstream_failed": upstream_failed}
        status.update(ours)
    timing["run_s"] = round(time.monotonic() - t2, 1)
    failed, passed, arches = [], 0, set()
    for case in manifest["exported"]:
        arches.add(case["arch"])
        states = [status.get(t["test"], "MISSING") for t in case["tests"]]
        if all(s == "OK" for s in states):
            passed += 1
        else:
            failed.append({"name": case["name"], "case": case["case"], "arch": case["arch"],
                           "tests": [{"program": t["program"], "test": t["test"], "status": s,
                                      "expected": t["expected"]} for t, s in zip(case["tests"], states, strict=True)
                                     if s != "OK"]})
    summary = {"libvirt": libvirt, "cases": manifest["cases"], "passed": passed,
               "failed": failed, "arches": sorted(arches), "cases_by_arch": manifest["arches"],
               "skipped": manifest["skipped"], "programs": counts, "timing": timing,
               "build": str(top)}
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    for prog, r in counts.items():
        print(f"{prog}: {r['passed']} passed, {r['failed']} failed of {r['tests']} corpus tests "
              f"(upstream's own: {r['upstream_tests']}, {len(r['upstream_failed'])} failed)")
    print(f"libvirt {libvirt}: {passed} of {manifest['cases']} cases passed over {len(arches)} arches "
          f"({', '.join(sorted(arches))}); fetch+configure {timing['prepare_s']} s, build {timing['build_s']} s, "
          f"run {timing['run_s']} s: {out / 'summary.json'}")
    print(f"upstream: {passed} passed, {len(failed)} failed")
    return 0 if passed == manifest["cases"] and manifest["cases"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
