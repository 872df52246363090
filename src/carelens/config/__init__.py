"""Packaged configuration: every threshold, weight, interval and rule set as documented YAML.

Each area keeps its files in a folder here (``monitor/``, ``assess/``, ``fund/``, ``plan/``, ``systems/``,
``indicators/``), each value with its meaning and source. This module is the one way to find and read
them: :func:`packaged` gives a packaged file's path, :func:`read_mapping` reads any settings file
(packaged or the user's own), reporting a missing, unreadable or malformed file as bad input, and
:class:`FieldReader` reads its fields with their types and ranges checked, collecting every problem
(naming the file and the field) so that one error reports them all. A field that no reader asked for
is a problem too (a misspelt or retired setting would otherwise silently not mean what it says), as is
a number that is not finite (``.nan``, ``.inf``) or a section given as a single value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(Problem(source, None, None, f"not a readable YAML file: {exc}")) from None
    if not isinstance(document, dict):
        raise InputError(Problem(source, None, None, "expected a mapping (key: value) at the top level"))
    return document, source


_REQUIRED: Any = object()


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
    ) -> None:
        self.source = source
        self.document = document
        self.prefix = prefix
        """Dotted path of ``document`` within the file ("" for the whole file), put before field names."""
        self.problems: list[Problem] = [] if problems is None else problems
        self.read: set[str] = set() if read is None else read
        """Dotted paths (from the top of the file) of every field asked for: a field read whole (a
        mapping or list) covers everything beneath it; :meth:`unknown_fields` is what no one asked for."""

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
        )

    def known(self, *dotted: str) -> None:
        """Mark fields as read by other means (e.g. ``schema_version``, checked before the reader)."""
        self.read.update(self._field(name) or "" for name in dotted)

    def unknown_fields(self) -> list[str]:
        """Dotted paths of the fields in the file that no reader asked for (shallowest first)."""
        read = self.read
        unknown: list[str] = []

        def walk(mapping: Mapping[str, Any], prefix: str) -> None:
            for key, value in mapping.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if path in read or any(path.startswith(r + ".") for r in read):
                    continue  # read, or beneath a field read whole
                if not any(r.startswith(path + ".") for r in read):
                    unknown.append(path)
                elif isinstance(value, Mapping):
                    walk(value, path)

        walk(self.document, self.prefix)
        return unknown

    def _field(self, name: str | None) -> str | None:
        return ".".join(part for part in (self.prefix, name) if part) or None

    def problem(self, field_name: str | None, reason: str) -> None:
        """Record a problem with a field (``None``: with the mapping as a whole); once."""
        problem = Problem(self.source, None, self._field(field_name), reason)
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

    def raise_if_any(self, unknown: bool = True) -> None:
        """Raise every problem recorded so far as one InputError; with ``unknown`` (the default), every
        field of the file that no reader asked for is one too ("unknown setting")."""
        if unknown:
            for path in self.unknown_fields():
                self.problems.append(Problem(self.source, None, path, "unknown setting"))
        if self.problems:
            raise InputError(self.problems)

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
    ) -> Any:
        """The value of field ``dotted`` ("section.key"), checked; ``None`` after recording a problem.

        ``kind``: ``float`` (any number but a boolean, returned as a float), ``int`` (a whole number),
        ``str`` (text; a bare whole number is read as text) or any other type (``dict``, ``list``,
        ``bool``) the value must be an instance of. ``minimum`` (``exclusive``: the value must exceed
        it) and ``maximum`` bound numbers; a value out of range is recorded as a problem and returned.
        A missing or null field gives ``default`` when one is given, ``None`` when ``optional``, and is
        otherwise a problem ("required field is missing"; a null required field is reported as the
        wrong type).
        """
        self.read.add(self._field(dotted) or "")
        value: Any = self.document
        walked: list[str] = []
        for part in dotted.split("."):
            if value is not self.document and not isinstance(value, Mapping) and value is not None:
                self.problem(".".join(walked), f"must be a mapping (key: value), got {value!r}")
                return None
            if isinstance(value, Mapping) and part in value:
                value = value[part]
                walked.append(part)
            else:
                value = _REQUIRED
                break
        if value is _REQUIRED or (value is None and (optional or default is not _REQUIRED)):
            if default is _REQUIRED and not optional:
                self.problem(dotted, "required field is missing")
                return None
            return None if default is _REQUIRED else default
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problem(dotted, f"must be a number, got {value!r}")
                return None
            value = float(value)
            if not math.isfinite(value):
                self.problem(dotted, f"must be a finite number, got {value!r}")
                return None
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem(dotted, f"must be a whole number, got {value!r}")
                return None
        elif kind is str:
            if not isinstance(value, str | int):
                self.problem(dotted, f"must be text, got {value!r}")
                return None
            value = str(value)
        elif not isinstance(value, kind):
            self.problem(dotted, f"must be a {kind.__name__}, got {value!r}")
            return None
        if kind in (float, int):
            if minimum is not None and (value <= minimum if exclusive else value < minimum):
                self.problem(dotted, f"must be {'>' if exclusive else '>='} {minimum:g}, got {value:g}")
            if maximum is not None and value > maximum:
                self.problem(dotted, f"must be <= {maximum:g}, got {value:g}")
        return value
