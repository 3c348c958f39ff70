"""Laying out a program of the original Ruvon documentation and running it as its reader does.

A program is the directory ``tests/docs_programs/<doc>/``: the files its page shows, byte for
byte, the files of ours it never shows, and ``<file>.patch`` beside each shown file we had to
fix (``docs/ruvon-docs-programs.md`` says why, page by page). What the page shows the program
printing, where it shows exact lines, is ``<doc>.output.txt`` beside the directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import ruvon

PROGRAMS = Path(__file__).resolve().parent
SRC = str(Path(ruvon.__file__).resolve().parents[1])
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def apply_patch(root: Path, patch: Path) -> None:
    """Apply a one-file unified diff exactly: every context and removed line must match."""
    lines = patch.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[0].startswith("--- a/") and lines[1].startswith("+++ b/"), patch
    target = root / lines[1][len("+++ b/") :].strip()
    old = target.read_text(encoding="utf-8").splitlines(keepends=True)
    new: list[str] = []
    pos = 0
    for line in lines[2:]:
        hunk = HUNK.match(line)
        if hunk:
            start = int(hunk[1]) - (0 if hunk[2] == "0" else 1)
            new += old[pos:start]
            pos = start
            continue
        tag, text = line[0], line[1:]
        if tag in " -":
            assert old[pos] == text, f"{patch.name} does not apply at line {pos + 1}"
            pos += 1
        if tag in " +":
            new.append(text)
    target.write_text("".join(new + old[pos:]), encoding="utf-8")


def patches(doc: str) -> list[str]:
    """The patches of ``doc``'s program, as paths relative to it."""
    found = (PROGRAMS / doc).rglob("*.patch")
    return sorted(p.relative_to(PROGRAMS / doc).as_posix() for p in found)


def lay_out(doc: str, into: Path, *, without: str | None = None) -> Path:
    """Copy the program of ``doc`` into ``into`` and apply its patches (all but ``without``)."""
    root = into / doc
    shutil.copytree(PROGRAMS / doc, root, ignore=shutil.ignore_patterns("*.patch", "__pycache__"))
    for name in patches(doc):
        if name != without:
            apply_patch(root, PROGRAMS / doc / name)
    return root


def run(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd``, with this checkout's Ruvon and none of the caller's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUVON_", "PYTEST_"))}
    env["PYTHONPATH"] = SRC
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # see run_tests
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def run_tests(cwd: Path, *args: str, module: bool = False) -> dict[str, str]:
    """Run the program's tests with ``pytest`` (``python -m pytest`` with ``module``); return
    each test's outcome: ``"passed"``, or the message of its failure.

    The pages' tests need pytest and pytest-asyncio, which is all a reader installs; other
    plugins of this virtualenv (hypothesis takes a second to import) are left out."""
    script = Path(sys.executable).with_name("pytest")
    command = [sys.executable, "-m", "pytest"] if module or not script.exists() else [str(script)]
    report = cwd.parent / f"{cwd.name}.xml"
    plugins = ("-p", "pytest_asyncio.plugin", "-p", "no:cacheprovider")
    done = run(cwd, *command, "-q", *plugins, f"--junitxml={report}", *args)
    assert report.exists(), done.stdout + done.stderr
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error", "skipped")]
        detail = " ".join(f"{c.get('message')} {c.text}" for c in problems)
        outcomes[case.get("name", "")] = detail if problems else "passed"
    return outcomes


def assert_all_passed(outcomes: dict[str, str], names: set[str]) -> None:
    """Exactly the tests ``names`` ran, and each passed."""
    assert set(outcomes) == names
    assert {n: o for n, o in outcomes.items() if o != "passed"} == {}


def assert_each_patch_is_needed(
    doc: str, tmp: Path, needed: dict[str, dict[str, str]], *args: str, module: bool = False
) -> None:
    """Without each patch in turn, the named tests fail with the given message (the others
    pass): the page's program really does not run here without that fix, for that reason."""
    assert set(needed) == set(patches(doc))
    roots = [lay_out(doc, tmp / name.replace("/", "_"), without=name) for name in needed]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the runs are independent processes
        runs = list(pool.map(lambda root: run_tests(root, *args, module=module), roots))
    for (name, failures), outcomes in zip(needed.items(), runs, strict=True):
        failed = {n: o for n, o in outcomes.items() if o != "passed"}
        assert set(failed) == set(failures), (name, failed)
        for test, message in failures.items():
            assert message in failed[test], (name, test, failed[test])


def sample(doc: str) -> list[str]:
    """What the page shows its program printing (kept beside the program)."""
    return (PROGRAMS / f"{doc}.output.txt").read_text(encoding="utf-8").splitlines()


def assert_prints(out: str, expected: list[str], variable: dict[str, str]) -> None:
    """``out`` is ``expected`` line by line, except that each text in ``variable`` (an id or a
    time of the page's own run) stands for the pattern it maps to."""
    lines = out.rstrip("\n").splitlines()
    assert len(lines) == len(expected), out
    for line, want in zip(lines, expected, strict=True):
        pattern = re.escape(want)
        for text, regex in variable.items():
            pattern = pattern.replace(re.escape(text), regex)
        assert re.fullmatch(pattern, line), (want, line)
