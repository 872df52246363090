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


SETTINGS_DOC = ROOT / "docs" / "settings.md"
PACKAGE = ROOT / "src" / "carelens"


def _documented_settings() -> dict[str, list[list[str]]]:
    """The settings docs/settings.md names (split into parts), by the file pattern of their section."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in _lines(SETTINGS_DOC):
        heading = re.fullmatch(r"## `([^`]+\.yaml)`", line)
        if heading:
            current = sections.setdefault(heading[1], [])
        elif current is not None and line.startswith("| `"):
            current += [_parts(name) for name in re.findall(r"`([^`]+)`", line.split("|")[1])]
    return sections


def _parts(dotted: str) -> list[str]:
    """``a.b[].c`` -> ``["a", "b", "[]", "c"]``: each entry of a list is one part, ``[]``."""
    return dotted.replace("[]", ".[]").split(".")


def _settings(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The key path of every field of a settings document (a section and each field beneath it)."""
    found: list[tuple[str, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += [(*prefix, str(key)), *_settings(value, (*prefix, str(key)))]
    elif isinstance(node, list):
        for entry in node:
            found += _settings(entry, (*prefix, "[]")) if isinstance(entry, dict) else []
    return found


def _names(documented: list[str], path: tuple[str, ...]) -> bool:
    """Whether a documented setting is ``path`` or beneath it (``<name>`` stands for any key)."""
    return len(documented) >= len(path) and all(
        part == want or (part.startswith("<") and part.endswith(">") and want != "[]")
        for part, want in zip(documented, path, strict=False)
    )


def test_every_packaged_setting_is_documented():
    import fnmatch

    import yaml

    sections = _documented_settings()
    files = sorted(PACKAGE.rglob("*.yaml"))
    assert len(files) >= 16, "no packaged settings file found: the scan is broken"
    undocumented = []
    for path in files:
        name = path.relative_to(PACKAGE).as_posix()
        matching = [pattern for pattern in sections if fnmatch.fnmatch(name, pattern)]
        if len(matching) != 1:
            undocumented.append(f"{name}: {len(matching)} sections of docs/settings.md, not one")
            continue
        documented = sections[matching[0]]
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for setting in dict.fromkeys(_settings(document)):
            if setting != ("schema_version",) and not any(_names(d, setting) for d in documented):
                undocumented.append(f"{name}: {'.'.join(setting).replace('.[]', '[]')}")
    assert not undocumented, "settings not in docs/settings.md:\n" + "\n".join(undocumented)


def test_an_undocumented_setting_is_found():
    documented = [_parts("flags.risk_z"), _parts("limiters.<name>.text"), _parts("x[].a")]
    assert all(any(_names(d, s) for d in documented) for s in _settings({"flags": {"risk_z": 1}}))
    assert any(_names(d, ("limiters", "late", "text")) for d in documented)
    assert any(_names(d, ("x", "[]", "a")) for d in documented)
    assert not any(_names(d, ("flags", "risk_zz")) for d in documented)
    assert not any(_names(d, ("x", "[]", "b")) for d in documented)
