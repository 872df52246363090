"""Packaged configuration: every threshold, weight, interval and rule set as documented YAML.

Each area keeps its files in a folder here (``monitor/``, ``assess/``, ``fund/``, ``plan/``, ``systems/``,
``indicators/``), each value with its meaning and source. This module is the one way to find and read
them: :func:`packaged` gives a packaged file's path, :func:`read_settings` opens any settings file
(packaged or the user's own; a missing, unreadable or malformed file, or one of another layout, is bad
input) as a :class:`FieldReader`, which reads its fields with their types and ranges checked,
collecting every problem (naming the file and the field) so that one error reports them all. A field
that no reader asked for is a problem too (a misspelt or retired setting would otherwise silently not
mean what it says), as is a number that is not finite (``.nan``, ``.inf``) or a section given as a
single value. Every setting of every packaged file is listed in docs/settings.md.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from carelens.errors import InputError, Problem


def packaged(area: str, name: str) -> Path:
    """Path of the packaged configuration file ``carelens/config/<area>/<name>``."""
    return Path(str(resources.files("carelens") / "config" / area / name))


def read_mapping(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a YAML file whose top level is a mapping; return it with its source name for messages."""
    import yaml

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(Problem(source, None, None, "file not found"))
    try:
        # libyaml's safe loader where PyYAML was built with it (ten times faster, the same documents)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(Problem(source, None, None, f"not a readable YAML file: {exc}")) from None
    if not isinstance(document, dict):
        raise InputError(Problem(source, None, None, "expected a mapping (key: value) at the top level"))
    return document, source


SCHEMA_VERSION = 1
"""The layout of every packaged settings file (its ``schema_version``)."""


def read_settings(
    path: str | Path | None, default: str | Path = "", version: int = SCHEMA_VERSION
) -> FieldReader:
    """A reader of the settings file at ``path`` (or ``default``), whose ``schema_version`` is checked
    first: a file of another layout is refused at once, as its other fields would not mean what they say."""
    document, source = read_mapping(path or default)
    reader = FieldReader(source, document)
    found = document.get("schema_version")
    if isinstance(found, bool) or found != version:
        raise InputError(Problem(source, None, "schema_version", f"must be {version}, got {found!r}"))
    reader.known("schema_version")
    return reader


_REQUIRED: Any = object()
_REPORTED: Any = object()
"""What :meth:`FieldReader._lookup` gives when a section on the way was a single value (reported)."""


def _typed(value: Any, kind: type) -> tuple[Any, str | None]:
    """``value`` read as ``kind`` (see :meth:`FieldReader.get`), or ``None`` and why it is not one."""
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"must be a number, got {value!r}"
        if not math.isfinite(value):
            return None, f"must be a finite number, got {value!r}"
        return float(value), None
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"must be a whole number, got {value!r}"
        return value, None
    if kind is str:
        if not isinstance(value, str | int):
            return None, f"must be text, got {value!r}"
        return str(value), None
    if kind is bool and not isinstance(value, bool):
        return None, f"must be true or false, got {value!r}"
    if not isinstance(value, kind):
        return None, f"must be a {kind.__name__}, got {value!r}"
    return value, None


class FieldReader:
    """Typed access to the dotted fields of a settings mapping, collecting problems instead of stopping.

    ``reader = FieldReader(source, document)``; ``reader.get("a.b", float, minimum=0.0)`` is the number at
    ``document["a"]["b"]``; every problem (missing, wrong type, out of range, or one the caller adds with
    :meth:`problem`) is kept as a :class:`~carelens.errors.Problem` naming ``source`` and the field's
    dotted path, and :meth:`raise_if_any` raises them together as one :class:`~carelens.errors.InputError`.
    """

    def __init__(
        self,
        source: str,
        document: Mapping[str, Any],
        prefix: str = "",
        problems: list[Problem] | None = None,
        read: set[str] | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.document = document
        self.prefix = prefix
        """Dotted path of ``document`` within the file ("" for the whole file), put before field names."""
        self.problems: list[Problem] = [] if problems is None else problems
        self.read: set[str] = set() if read is None else read
        """Dotted paths (from the top of the file) of every field asked for: a field read whole (a
        mapping or list) covers everything beneath it; :meth:`unknown_fields` is what no one asked for."""
        self.row = row
        """The entry of a list the document is (e.g. the 2nd indicator of a file), named in problems."""

    def within(self, name: str, document: Any) -> FieldReader:
        """A reader of ``document``, the mapping at field ``name`` (not a mapping: a problem, then read as
        empty), whose fields are named below ``name`` and whose problems and reads are this reader's."""
        if document is not None and not isinstance(document, Mapping):
            self.problem(name, f"must be a mapping (key: value), got {document!r}")
            self.read.add(self._field(name) or "")
        return FieldReader(
            self.source,
            document if isinstance(document, Mapping) else {},
            self._field(name),
            self.problems,
            self.read,
            self.row,
        )

    def section(self, dotted: str, optional: bool = False) -> FieldReader:
        """A reader of the section (mapping) at ``dotted``, whose own fields are each read by the caller;
        a missing section is a problem unless ``optional`` (then read as empty)."""
        value = self._lookup(dotted)
        if value is _REPORTED:
            value = None
        elif value is _REQUIRED or value is None:
            if not optional:
                self.problem(dotted, "required field is missing")
            value = None
        if isinstance(value, Mapping) and not value:
            self.known(dotted)  # present and empty: nothing beneath it to read
        return self.within(dotted, value)

    def sections(self, dotted: str, optional: bool = False) -> dict[str, FieldReader]:
        """Readers of the named entries of the section at ``dotted`` (e.g. the limiters, by name)."""
        outer = self.section(dotted, optional)
        return {str(name): outer.within(str(name), entry) for name, entry in outer.document.items()}

    def entries(self, dotted: str, optional: bool = False) -> list[FieldReader]:
        """Readers of the mappings listed at ``dotted`` (each named ``dotted[i]``, from 0)."""
        listed = self._lookup(dotted)
        if listed is _REPORTED:
            return []
        if listed is _REQUIRED or listed is None:
            if not optional:
                self.problem(dotted, "required field is missing")
            return []
        if not isinstance(listed, list):
            self.problem(dotted, f"must be a list, got {listed!r}")
            self.known(dotted)
            return []
        if not listed:
            self.known(dotted)
        return [self.within(f"{dotted}[{i}]", entry) for i, entry in enumerate(listed)]

    def known(self, *dotted: str) -> None:
        """Mark fields as read by other means (e.g. ``schema_version``, checked before the reader)."""
        self.read.update(self._field(name) or "" for name in dotted)

    def unknown_fields(self) -> list[str]:
        """Dotted paths of the fields in the file that no reader asked for (shallowest first); an entry
        of a list is named by its place, ``field[i]``."""
        read = self.read

        def beneath(path: str, above: str) -> bool:
            return path.startswith((above + ".", above + "["))

        unknown: list[str] = []

        def walk(items: list[tuple[str, Any]]) -> None:
            for path, value in items:
                if path in read or any(beneath(path, r) for r in read):
                    continue  # read, or beneath a field read whole
                if not any(beneath(r, path) for r in read):
                    unknown.append(path)
                elif isinstance(value, Mapping):
                    walk([(f"{path}.{key}", item) for key, item in value.items()])
                elif isinstance(value, list):
                    walk([(f"{path}[{i}]", item) for i, item in enumerate(value)])

        walk([(f"{self.prefix}.{key}" if self.prefix else str(key), v) for key, v in self.document.items()])
        return unknown

    def _field(self, name: str | None) -> str | None:
        return ".".join(part for part in (self.prefix, name) if part) or None

    def problem(self, field_name: str | None, reason: str) -> None:
        """Record a problem with a field (``None``: with the mapping as a whole); once."""
        problem = Problem(self.source, self.row, self._field(field_name), reason)
        if problem not in self.problems:
            self.problems.append(problem)

    def retired(self, dotted: str, why: str) -> None:
        """Record a problem when field ``dotted`` is present: a setting carelens no longer reads, so a
        file that still sets it would silently not mean what it says (``why`` says what decides now)."""
        self.known(dotted)  # reported here, not again as unknown
        value: Any = self.document
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return
            value = value[part]
        self.problem(dotted, f"is no longer a setting: {why}; remove it")

    def check_unknown(self) -> None:
        """Record every field of this reader's document that no reader asked for ("unknown setting")."""
        for path in self.unknown_fields():
            self.problems.append(Problem(self.source, self.row, path, "unknown setting"))

    def raise_if_any(self, unknown: bool = True) -> None:
        """Raise every problem recorded so far as one InputError; with ``unknown`` (the default), every
        field of the file that no reader asked for is one too ("unknown setting")."""
        if unknown:
            self.check_unknown()
        if self.problems:
            raise InputError(self.problems)

    def _lookup(self, dotted: str) -> Any:
        """The value at ``dotted`` (``_REQUIRED`` if absent); a section on the way that is a single value
        is a problem (and gives ``_REPORTED``)."""
        value: Any = self.document
        walked: list[str] = []
        for part in dotted.split("."):
            if value is not self.document and not isinstance(value, Mapping) and value is not None:
                self.problem(".".join(walked), f"must be a mapping (key: value), got {value!r}")
                return _REPORTED
            if isinstance(value, Mapping) and part in value:
                value = value[part]
                walked.append(part)
            else:
                return _REQUIRED
        return value

    def get(
        self,
        dotted: str,
        kind: type,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive: bool = False,
        default: Any = _REQUIRED,
        optional: bool = False,
        choices: Collection[Any] | None = None,
        of: type | None = None,
    ) -> Any:
        """The value of field ``dotted`` ("section.key"), checked; ``None`` after recording a problem.

        ``kind``: ``float`` (any finite number but a boolean, returned as a float), ``int`` (a whole
        number), ``str`` (text; a bare whole number is read as text) or any other type (``dict``,
        ``list``, ``bool``) the value must be an instance of; ``of``: the kind of every item of a list.
        ``minimum`` (``exclusive``: the value must exceed it) and ``maximum`` bound numbers; a value out
        of range is recorded as a problem and returned. ``choices``: the values allowed. A missing or
        null field gives ``default`` when one is given, ``None`` when ``optional``, and is otherwise a
        problem ("required field is missing"; a null required field is reported as the wrong type).
        """
        self.read.add(self._field(dotted) or "")
        value = self._lookup(dotted)
        if value is _REPORTED:
            return None
        if value is _REQUIRED or (value is None and (optional or default is not _REQUIRED)):
            if default is _REQUIRED and not optional:
                self.problem(dotted, "required field is missing")
                return None
            return None if default is _REQUIRED else default
        return self._check(dotted, value, kind, minimum, maximum, exclusive, choices, of)

    def numbers(
        self, dotted: str, kind: type = float, *, optional: bool = False, **bounds: Any
    ) -> dict[str, Any]:
        """The section at ``dotted`` whose names are the caller's (e.g. a factor by commissioner) and
        whose values are numbers, each checked as :meth:`get` checks one (one of the wrong kind is left
        out)."""
        outer = self.section(dotted, optional)
        checked = {
            str(key): outer._check(str(key), value, kind, **bounds) for key, value in outer.document.items()
        }
        outer.known(*checked)
        return {key: value for key, value in checked.items() if value is not None}

    def _check(
        self,
        dotted: str,
        value: Any,
        kind: type,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive: bool = False,
        choices: Collection[Any] | None = None,
        of: type | None = None,
    ) -> Any:
        """``value`` (of field ``dotted``) checked as :meth:`get` checks it."""
        value, reason = _typed(value, kind)
        if reason is None and of is not None:
            items = [_typed(item, of) for item in value]
            reason = next((f"every item {why}" for _, why in items if why), None)
            value = [item for item, _ in items]
        if reason is not None:
            self.problem(dotted, reason)
            return None
        if kind in (float, int):
            if minimum is not None and (value <= minimum if exclusive else value < minimum):
                self.problem(dotted, f"must be {'>' if exclusive else '>='} {minimum:g}, got {value:g}")
            if maximum is not None and value > maximum:
                self.problem(dotted, f"must be <= {maximum:g}, got {value:g}")
        if choices is not None and value not in choices:
            self.problem(dotted, f"{value!r} is not one of: {', '.join(map(str, choices))}")
            return None
        return value
