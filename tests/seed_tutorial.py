"""Extract the saga tutorial's four files, verbatim, from the seed document.

The seed is ``../shared/seed/000_16024b37bee6aea2.txt`` next to the checkout; a copy is kept at
``tests/fixtures/saga_tutorial.txt`` so the tests also run where ``shared/`` is absent.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_NAME = "000_16024b37bee6aea2.txt"
COPY = ROOT / "tests" / "fixtures" / "saga_tutorial.txt"

# file -> (line that introduces it, first line of the code, line after its last line)
_FILES = {
    "payment_processor/models.py": (
        "Create payment_processor/models.py:",
        "from pydantic",
        "Step 2:",
    ),
    "payment_processor/steps.py": ("Create payment_processor/steps.py:", '"""', "Key Points:"),
    "config/workflow.yaml": (
        "Create config/workflow.yaml:",
        "workflow_type:",
        "YAML Configuration:",
    ),
    "main.py": ("Create main.py:", '"""', "Critical Step:"),
}


def seed_text() -> str:
    for candidate in (ROOT.parent / "shared" / "seed" / SEED_NAME, COPY):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(f"neither ../shared/seed/{SEED_NAME} nor {COPY} exists")


def tutorial_files(text: str | None = None) -> dict[str, str]:
    """``{relative path: content}`` of the files the tutorial tells its reader to create."""
    lines = (text or seed_text()).splitlines()
    out: dict[str, str] = {}
    for path, (intro, first, stop) in _FILES.items():
        start = lines.index(intro) + 1
        while not lines[start].startswith(first):
            start += 1
        end = next(i for i in range(start, len(lines)) if lines[i].startswith(stop))
        body = lines[start:end]
        while body and not body[-1].strip():
            body.pop()
        out[path] = "\n".join(body) + "\n"
    out["payment_processor/__init__.py"] = ""
    return out


def write_tutorial(directory: Path, text: str | None = None) -> None:
    """Lay the tutorial project out in ``directory`` as its reader would."""
    for rel, content in tutorial_files(text).items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
