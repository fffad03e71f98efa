"""``virtfuzz corpus check|replay|regen|add|export`` on the real corpus and on small copies of it
with a defect put in (an orphan, a duplicate, a changed expectation, ...): each defect must be
caught, each clean corpus must pass."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from virtfuzz import corpus
from virtfuzz.cli import main

# replays create the cases' capability variants, and real backends save their probes: in a private
# data directory (the set-up's builds and stock caches, read-only), never the machine's
pytestmark = pytest.mark.usefixtures("private_data_dir_with_caches")

# a few cases of every operation, with the answers of one build (9.0.0) or of all four
SAMPLE = ["define-x86_64-q35-usb-qemu-xhci", "define-aarch64-virt-usb-dup", "capsdel-00-x86_64-qemu-xhci",
          "load-x86_64-pc-tablet", "abi-x86_64-pc-usb-model", "abi-x86_64-pc-same", "attach-x86_64-pc-tablet",
          "detach-x86_64-pc-tablet-missing", "x86_64-q35-hubs"]


def _copy(root: Path, names: list[str] = SAMPLE) -> dict[str, corpus.CorpusCase]:
    """A corpus at ROOT holding only NAMES (every file of each case, in its own topic)."""
    have = corpus.by_name()
    for name in names:
        c = have[name]
        (root / c.topic).mkdir(parents=True, exist_ok=True)
        for p in c.dir.glob(f"{name}.*"):
            if corpus._classify(p.name)[0] == name:
                shutil.copyfile(p, root / c.topic / p.name)
    return corpus.by_name(root)


def _run(capsys, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out + out.err


def test_the_real_corpus_is_clean(capsys):
    status, out = _run(capsys, "corpus", "check")
    assert status == 0, out
    cases = list(corpus.cases())
    assert len(cases) >= 6000 and f"{len(cases)} cases in" in out
    assert {"define", "load", "abi", "attach", "detach", "builds", "held-out"} <= {c.topic for c in cases}


@pytest.mark.parametrize("defect", ["orphan-expected", "wrong-arch-suffix", "unnamed-build", "stray-file",
                                    "duplicate", "same-name", "no-input", "no-context", "schema", "top-level-file"])
def test_check_catches(defect, tmp_path, capsys):
    cases = _copy(tmp_path)
    assert _run(capsys, "corpus", "check", "--root", str(tmp_path))[0] == 0
    c = cases["define-x86_64-q35-usb-qemu-xhci"]
    culprit = {
        "orphan-expected": c.dir / "define-gone.x86_64-9.0.0.expected.xml",
        "wrong-arch-suffix": c.dir / f"{c.name}.aarch64-9.0.0.expected.err",
        "unnamed-build": c.dir / f"{c.name}.x86_64-8.0.0.expected.err",
        "stray-file": c.dir / "notes.txt",
        "duplicate": tmp_path / "edge" / "twin.json",
        "same-name": tmp_path / "edge" / f"{c.name}.json",
        "no-input": c.dir / "lonely.json",
        "no-context": c.dir / "lonely.xml",
        "schema": c.dir / f"{c.name}.json",
        "top-level-file": tmp_path / "README",
    }[defect]
    culprit.parent.mkdir(exist_ok=True)
    if defect in ("duplicate", "same-name"):  # the same case again, in another topic
        stem = culprit.name[: -len(".json")]
        shutil.copyfile(c.input, culprit.parent / f"{stem}.xml")
        shutil.copyfile(c.dir / f"{c.name}.json", culprit)
        for kind, p in c.expected_for("9.0.0").items():
            shutil.copyfile(p, culprit.parent / corpus.expected_name(stem, c.arch, "9.0.0", kind))
    elif defect == "no-input":
        shutil.copyfile(c.dir / f"{c.name}.json", culprit)
    elif defect == "schema":
        ctx = dict(c.context)
        del ctx["provenance"]
        culprit.write_text(json.dumps(ctx))
    else:
        culprit.write_text("x\n")
    status, out = _run(capsys, "corpus", "check", "--root", str(tmp_path))
    assert status == 1, out
    assert str(culprit) in out, out


def test_options_a_subcommand_cannot_honour_are_refused(capsys):
    for argv in (["corpus", "replay", "--qemu", "6.2.0"], ["corpus", "replay", "--caps-del", "qemu-xhci"],
                 ["corpus", "check", "--backend", "oracle"], ["corpus", "check", "--libvirt", "7.0.0"],
                 ["corpus", "regen", "--backend", "oracle"], ["corpus", "add", "/nonexistent", "--qemu", "6.2.0"]):
        status, out = _run(capsys, *argv)
        assert status == 2 and "has no effect on this command" in out, (argv, out)
    for argv, says in ((["corpus", "replay", "--topic", "nope"], "no topic 'nope'"),
                       (["corpus", "replay", "--target", "oracle:9.0.0", "--backend", "oracle"], "drop --backend"),
                       (["corpus", "replay", "--target", "libvirt:8.8.8"], "libvirt 8.8.8"),
                       (["corpus", "regen", "--target", "oracle:9.0.0"], "libvirt targets only"),
                       (["corpus", "check", "--root", "/nonexistent"], "/nonexistent: no such corpus"),
                       (["corpus", "add", "/nonexistent"], "/nonexistent: not a finding directory")):
        status, out = _run(capsys, *argv)
        assert status == 2 and says in out and len(out.strip().splitlines()) == 1, (argv, out)


@pytest.mark.libvirt
@pytest.mark.parametrize("target", ["libvirt:9.0.0", "oracle:9.0.0"])
def test_replay_passes_and_catches_a_changed_expectation(target, tmp_path, capsys):
    cases = _copy(tmp_path)
    js = tmp_path / "r.json"
    status, out = _run(capsys, "corpus", "replay", "--root", str(tmp_path), "--target", target, "--json", str(js))
    assert status == 0, out
    n = sum(c.has("9.0.0") for c in cases.values())
    assert f"{target}: {n} cases, {n} pass, 0 fail" in out
    assert json.loads(js.read_text())["targets"][0]["passed"] == n
    wrong = cases["load-x86_64-pc-tablet"].expected_for("9.0.0")["xml"]
    wrong.write_text(wrong.read_text().replace("</devices>", "<hub type='usb'/></devices>"))
    status, out = _run(capsys, "corpus", "replay", "--root", str(tmp_path), "--target", target, "--json", str(js))
    assert status == 1 and f"FAIL {target} load/load-x86_64-pc-tablet: stored XML differs" in out, out
    assert [f["case"] for f in json.loads(js.read_text())["targets"][0]["failed"]] == ["load-x86_64-pc-tablet"]


@pytest.mark.libvirt
def test_replay_on_other_builds(capsys):
    """The builds topic carries 7.0.0, 11.3.0 and 12.9.0's answers: each replays on its build and profile."""
    status, out = _run(capsys, "corpus", "replay", "--topic", "builds", "-k", "x86_64-q35",
                       "--target", "libvirt:12.9.0", "--target", "oracle:7.0.0")
    assert status == 0, out
    assert "libvirt:12.9.0: 13 cases, 13 pass" in out and "oracle:7.0.0: 13 cases, 13 pass" in out


@pytest.mark.libvirt
def test_regen_shows_the_diff_and_writes(tmp_path, capsys):
    cases = _copy(tmp_path)
    c = cases["define-x86_64-q35-usb-qemu-xhci"]
    mig = c.expected_for("9.0.0")["mig.xml"]
    right = mig.read_text()
    mig.write_text(right.replace("<memory unit='KiB'>", "<memory unit='KiB'>1"))
    argv = ["corpus", "regen", "--root", str(tmp_path), "--topic", "define"]
    status, out = _run(capsys, *argv)
    assert status == 1 and f"--- {mig}\n+++ {mig}\n" in out and "1 differ" in out, out
    assert mig.read_text() != right  # not written
    status, out = _run(capsys, *argv, "--write")
    assert status == 0 and "1 written" in out and mig.read_text() == right, out
    status, out = _run(capsys, *argv)
    assert status == 0 and "2 cases re-recorded, 0 differ" in out, out


@pytest.mark.libvirt
def test_regen_in_a_builds_root(tmp_path, capsys):
    cases = _copy(tmp_path, ["x86_64-q35-hubs", "x86_64-pc-bridges"])
    err = cases["x86_64-pc-bridges"].expected_for("7.0.0")
    status, out = _run(capsys, "corpus", "regen", "--root", str(tmp_path), "--target", "libvirt:7.0.0")
    assert status == 0 and "libvirt 7.0.0: 2 cases re-recorded, 0 differ" in out, out
    assert cases["x86_64-pc-bridges"].expected_for("7.0.0") == err


def _finding(d: Path, xml: str, device: str | None = None, step: str | None = None) -> Path:
    d.mkdir(parents=True)
    (d / "input.xml").write_text(xml)
    if device:
        (d / "device.xml").write_text(device)
    (d / "finding.json").write_text(json.dumps({
        "signature": d.name, "invariant": "1-oracle-equals-libvirt", "party": "oracle-vs-libvirt",
        "message": "stored XML differs", "context": {"libvirt": "9.0.0", "qemu": None, "caps_del": [],
                                                     "seed": 7, **({"step": step} if step else {})}}))
    return d


@pytest.mark.libvirt
def test_add_a_finding(tmp_path, capsys):
    root = tmp_path / "corpus"
    _copy(root, ["define-x86_64-q35-usb-qemu-xhci"])
    xml = ("<domain type='qemu'><name>f1</name><uuid>c7a5fdbd-cdaf-9455-926a-000000000001</uuid><memory>65536"
           "</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><controller type='usb' "
           "model='ehci'/></devices></domain>\n")
    f = _finding(tmp_path / "findings" / "1-x-0123456789", xml, "<input type='tablet' bus='usb'/>\n", "attach")
    status, out = _run(capsys, "corpus", "add", str(f), "--root", str(root), "--why", "tablet behind EHCI")
    assert status == 0, out
    case = corpus.by_name(root)["finding-1-x-0123456789"]
    assert case.topic == "findings" and case.op == "attach" and case.versions == ["9.0.0"]
    assert case.provenance == {"source": "campaign finding 1-x-0123456789 (invariant 1-oracle-equals-libvirt, "
                                         "party oracle-vs-libvirt, seed 7)", "why": "tablet behind EHCI"}
    assert "<input type='tablet' bus='usb'>" in case.read("xml", "9.0.0")  # libvirt's answer, recorded
    assert _run(capsys, "corpus", "check", "--root", str(root))[0] == 0
    status, out = _run(capsys, "corpus", "replay", "--root", str(root), "--topic", "findings")
    assert status == 0, out
    status, out = _run(capsys, "corpus", "add", str(f), "--root", str(root))
    assert status == 2 and "exists already" in out, out
    status, out = _run(capsys, "corpus", "add", str(f), "--root", str(root), "--name", "again")
    assert status == 2 and "the same case is in the corpus already (findings/finding-1-x-0123456789)" in out, out
    noarch = _finding(tmp_path / "findings" / "2-y", xml.replace(" arch='x86_64'", ""))
    status, out = _run(capsys, "corpus", "add", str(noarch), "--root", str(root))
    assert status == 2 and "names no arch" in out, out
    nouuid = _finding(tmp_path / "findings" / "3-z", re.sub("<uuid>[^<]*</uuid>", "", xml))
    status, out = _run(capsys, "corpus", "add", str(nouuid), "--root", str(root))
    assert status == 2 and "answer does not replay (stored XML differs" in out, out
    assert sorted(corpus.by_name(root)) == ["define-x86_64-q35-usb-qemu-xhci", "finding-1-x-0123456789"]


def test_corpus_export_is_export(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(capsys, "export", "--out", str(a), "--limit", "5", "--arch", "x86_64")[0] == 0
    assert _run(capsys, "corpus", "export", "--out", str(b), "--limit", "5", "--arch", "x86_64")[0] == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) > 5 and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
