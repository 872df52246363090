"""The documentation the code points at is in the repository.

Docstrings, comments and configuration cite the methods pages (``docs/methods/*.md``) and the design
(``docs/design.md``). These tests fail when a file under ``src/`` or ``tests/`` names a document that
does not exist, or still cites the old notes kept outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "tests")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".txt", ".toml", ".jinja", ".html", ".mako", ".cfg", ".ini"}

# Built from parts so this file does not name them itself.
FORBIDDEN = ("METHODS" + ".md", "DESIGN" + ".md", "../" + "shared", "METHODS" + " §")
"""The old notes (not in the repository) and their section references."""

DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*?\.md\b")
"""A repository path to a Markdown document under docs/, e.g. ``docs/methods/shmi.md``; a "§section" or
"#anchor" after it is not part of the path (neither character can occur in it)."""


def _files(suffixes: set[str] | None = None) -> list[Path]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if suffixes is None or path.suffix.lower() in suffixes:
                found.append(path)
    return found


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def test_no_file_cites_the_old_notes_outside_the_repository():
    hits = []
    for path in _files():
        data = path.read_bytes()
        if not any(word.encode() in data for word in FORBIDDEN):
            continue
        for number, line in enumerate(_lines(path), start=1):
            hits += [f"{path.relative_to(ROOT)}:{number}: {word}" for word in FORBIDDEN if word in line]
    assert not hits, "cite docs/methods/*.md or docs/design.md instead:\n" + "\n".join(hits)


def test_every_docs_path_named_in_src_and_tests_exists():
    missing = []
    named = 0
    for path in _files(TEXT_SUFFIXES):
        for number, line in enumerate(_lines(path), start=1):
            for match in DOC_PATH.finditer(line):
                named += 1
                if not (ROOT / match.group(0)).is_file():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert named > 0, "no docs/ path found at all: the pattern or the scan is broken"
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)


def test_the_pattern_strips_sections_and_anchors():
    text = "see docs/design.md §Storage, docs/methods/shmi.md#the-algorithm and docs/planning.md."
    assert DOC_PATH.findall(text) == ["docs/design.md", "docs/methods/shmi.md", "docs/planning.md"]
    assert DOC_PATH.findall("https://example.org/docs/x.md and readthedocs/y.md") == []
