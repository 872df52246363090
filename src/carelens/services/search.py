"""Finding an organisation the way people ask: by words of its name in any order, misspelt, by a name it
had before, by its code, postcode or town, or by the place it is in.

The directory is small (tens of thousands of organisations for all England) and changes only when files
are imported, so the search reads it once into an in-memory index (:class:`Directory`) and answers from
that: the same code, the same ranking and the same typo tolerance on SQLite and PostgreSQL. The index is
rebuilt when the store's data version (:func:`data_version`) moves. Why this and not each database's own
text search is in docs/search.md.

Ranking, first to last: the organisation whose code is the query; those whose code starts with it (by
organisation level, then code); then those every word of the query matches (or, when none does, those
matching the most words), best matched first (a word of the current name before a former name, a
postcode, town or type, before the place it lies in; an exact word before the start of a word, before a
misspelling), then open before closed, by organisation level and name. Each result says why it matched
when it was not by its current name or type.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rapidfuzz import process
from rapidfuzz.distance import OSA

from carelens.model.organisations import OrgKind, RelationshipKind
from carelens.services._db import Db, Page, page_bounds, reading
from carelens.store import schema
from carelens.tables import POSTCODE_PATTERN

DIRECTORY_COLUMNS = [
    "code",
    "name",
    "kind",
    "subtype",
    "sector",
    "valid_from",
    "valid_to",
    "town",
    "postcode",
]
"""What a search result shows of an organisation: its public directory entry, nothing else."""
RESULT_COLUMNS = [*DIRECTORY_COLUMNS, "matched"]

PLACE_LINKS = (
    RelationshipKind.LOCAL_AUTHORITY_AREA,
    RelationshipKind.PLACE_MEMBER,
    RelationshipKind.COMMISSIONER_REGION,
    RelationshipKind.PRACTICE_COMMISSIONER,
)
"""Current relationships whose object is a place an organisation can be found by (its council, place,
region, commissioner)."""

LEVELS = (
    OrgKind.NHS_TRUST,
    OrgKind.INDEPENDENT_PROVIDER,
    OrgKind.LOCATION,
    OrgKind.CARE_HOME,
    OrgKind.GP_PRACTICE,
    OrgKind.PCN,
    OrgKind.COMMISSIONER,
    OrgKind.ACO,
    OrgKind.PLACE,
    OrgKind.LOCAL_AUTHORITY,
    OrgKind.REGION,
    OrgKind.COUNTRY,
)
"""Organisation levels, the order equally good matches are listed in: providers before their sites (a
trust before its hospitals), services before the areas they are in."""

KIND_WORDS = {
    OrgKind.NHS_TRUST: "nhs trust",
    OrgKind.LOCATION: "hospital clinic",
    OrgKind.INDEPENDENT_PROVIDER: "independent provider",
    OrgKind.CARE_HOME: "care home",
    OrgKind.GP_PRACTICE: "gp practice surgery",
    OrgKind.PCN: "primary care network pcn",
    OrgKind.COMMISSIONER: "commissioner",
    OrgKind.LOCAL_AUTHORITY: "local authority council",
    OrgKind.REGION: "region",
    OrgKind.PLACE: "place",
    OrgKind.ACO: "accountable care organisation aco",
    OrgKind.COUNTRY: "country",
}
"""Words that find an organisation by its type ("care home exeter")."""

NAME, FORMER, ADDRESS, KIND, PLACE = "name", "former", "address", "kind", "place"
FIELD_WEIGHTS = {NAME: 1.0, FORMER: 0.9, ADDRESS: 0.85, KIND: 0.85, PLACE: 0.75}
"""How much a word found in each part of an organisation's entry counts."""
EXACT, PREFIX, ONE_EDIT, TWO_EDITS = 1.0, 0.9, 0.8, 0.7
"""How much a query word counts by how it matches a word of the entry."""
STOPWORDS = frozenset({"the", "and", "of", "in", "at", "for", "a", "an", "on"})
PREFIX_MIN = 3
"""Shortest query word matched as the start of a longer word."""
POSTCODE = re.compile(rf"\b{POSTCODE_PATTERN.pattern}\b")
"""A postcode within a query (upper case), with or without its space."""
NOT_WORD = re.compile(r"[^a-z0-9]+")


def words(text: str) -> list[str]:
    """``text`` as lower-case words without accents or punctuation ("St Mary's & Co" -> st marys and co)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return NOT_WORD.sub(" ", ascii_text.lower().replace("&", " and ").replace("'", "")).split()


def edits_allowed(word: str) -> int:
    """Spelling mistakes forgiven in a query word: none in short words or in ones with digits (codes,
    postcodes), one from five letters, two from nine."""
    if not word.isalpha() or len(word) < 5:
        return 0
    return 1 if len(word) < 9 else 2


@dataclass(frozen=True)
class Query:
    """A query as the index reads it: the code it may be (when it has no space) and its words, each once,
    little words left out unless there is nothing else, a postcode written as one word (``pl68dh``)."""

    code: str | None
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        raw = " ".join(text.split()).upper()
        found = words(POSTCODE.sub(lambda m: f" {m.group(1)}{m.group(2)} ", raw))
        kept = [w for w in found if w not in STOPWORDS] or found
        return cls(raw if raw and " " not in raw else None, tuple(dict.fromkeys(kept)))


Posting = tuple[float, str, str | None]
"""How an entry holds a word: the weight of the part it is in, the part, and the reason to show when the
word matches there (None: its name or type, which the result shows anyway)."""


@dataclass
class Directory:
    """The in-memory index of the public directory: each organisation's entry and, for each word, the
    organisations whose entry has it (:data:`Posting`)."""

    entries: list[dict[str, Any]]
    postings: dict[str, dict[int, Posting]]
    order: list[tuple]
    """Sort key of each entry among equally good matches: closed last, then level, name and code."""
    codes: dict[str, int]
    sorted_codes: list[tuple[str, int]]
    vocabulary: list[str]
    by_length: dict[int, list[str]]
    """The vocabulary's words by length: a misspelling is looked for among words of about its length."""

    @classmethod
    def build(
        cls, entries: list[dict[str, Any]], texts: list[list[tuple[str, str, str | None]]]
    ) -> Directory:
        """The index of ``entries``, each with its searchable (part, text, reason) triples."""
        postings: dict[str, dict[int, Posting]] = defaultdict(dict)
        split: dict[str, list[str]] = {}  # types, towns and places recur: each text is split once
        for index, triples in enumerate(texts):
            for part, text, reason in triples:
                weight = FIELD_WEIGHTS[part]
                if text not in split:
                    split[text] = words(text)
                for word in split[text]:
                    held = postings[word].get(index)
                    if held is None or held[0] < weight:
                        postings[word][index] = (weight, part, reason)
        level = {kind.value: n for n, kind in enumerate(LEVELS)}
        order = [
            (
                e["valid_to"] is not None,
                level.get(e["kind"], len(LEVELS)),
                (e["name"] or "").lower(),
                e["code"],
            )
            for e in entries
        ]
        codes = {e["code"].upper(): i for i, e in enumerate(entries)}
        by_length: dict[int, list[str]] = defaultdict(list)
        for word in postings:
            by_length[len(word)].append(word)
        return cls(
            entries, dict(postings), order, codes, sorted(codes.items()), sorted(postings), dict(by_length)
        )

    def candidates(self, word: str) -> list[tuple[str, float]]:
        """Words of the index ``word`` matches, with how well: itself, words it starts and, when it is not a
        word of the index, near spellings (:func:`edits_allowed`)."""
        found = {word: EXACT} if word in self.postings else {}
        if len(word) >= PREFIX_MIN:
            at = bisect_left(self.vocabulary, word)
            while at < len(self.vocabulary) and self.vocabulary[at].startswith(word):
                found.setdefault(self.vocabulary[at], PREFIX)
                at += 1
        allowed = 0 if found.get(word) == EXACT else edits_allowed(word)
        if allowed:
            lengths = range(len(word) - allowed, len(word) + allowed + 1)
            near_length = [w for n in lengths for w in self.by_length.get(n, [])]
            near = process.extract(word, near_length, scorer=OSA.distance, score_cutoff=allowed, limit=None)
            for other, distance, _ in near:
                found.setdefault(other, ONE_EDIT if distance <= 1 else TWO_EDITS)
        return list(found.items())

    def by_code(self, code: str) -> list[tuple[tuple, int, str | None]]:
        """(sort key, entry, why) for the entry whose code is ``code``, then those whose code starts with it
        (at least two characters), by organisation level and code."""
        out = []
        exact = self.codes.get(code)
        if exact is not None:
            out.append(((0,), exact, None))
        if len(code) >= 2:
            at = bisect_left(self.sorted_codes, (code, -1))
            while at < len(self.sorted_codes) and self.sorted_codes[at][0].startswith(code):
                index = self.sorted_codes[at][1]
                if index != exact:
                    key = (1, self.order[index][1], self.entries[index]["code"])
                    out.append((key, index, f"code starts with {code}"))
                at += 1
        return out

    def by_words(self, query: Query, most: bool = True) -> list[tuple[tuple, int, str | None]]:
        """(sort key, entry, why) for the entries every word of ``query`` matches or, when none does and
        ``most``, those that match the most of its words (a street name the directory does not hold must
        not hide the postcode beside it). Each word is scored by its best match in the entry (how it matches times the
        weight of the part it is in), the entry by the mean over the query's words."""
        looked_up = [self.candidates(word) for word in query.words]
        if not looked_up:
            return []
        tier, matched = 2, self._every_word(looked_up) if all(looked_up) else {}
        if not matched and most and len(looked_up) > 1:
            tier, matched = 3, self._most_words(looked_up)
        out = []
        for index, matches in matched.items():
            score = sum(m[0] for m in matches) / len(looked_up)
            why = "; ".join(dict.fromkeys(m[1] for m in matches if m[1])) or None
            out.append(((tier, -round(score, 6), *self.order[index]), index, why))
        return out

    def _scores(self, found: list[tuple[str, float]]) -> dict[int, tuple[float, str | None]]:
        """Each entry one query word's matches (``found``) reach, with its best score and reason."""
        scores: dict[int, tuple[float, str | None]] = {}
        for other, quality in found:
            for index, (weight, _, reason) in self.postings[other].items():
                if index not in scores or scores[index][0] < quality * weight:
                    scores[index] = (quality * weight, reason)
        return scores

    def _every_word(
        self, looked_up: list[list[tuple[str, float]]]
    ) -> dict[int, list[tuple[float, str | None]]]:
        """The entries every query word matches, with each word's (score, reason). The word with the fewest
        matches goes first; a further word only checks the entries still in the running when that is
        cheaper than reading all its matches."""
        sized = sorted(((sum(len(self.postings[w]) for w, _ in f), f) for f in looked_up), key=lambda p: p[0])
        best = {index: [score] for index, score in self._scores(sized[0][1]).items()}
        for size, found in sized[1:]:
            scores: dict[int, tuple[float, str | None]] = {}
            if size <= len(best) * len(found):
                scores = {i: score for i, score in self._scores(found).items() if i in best}
            else:
                for index in best:
                    for other, quality in found:
                        held = self.postings[other].get(index)
                        if held and (index not in scores or scores[index][0] < quality * held[0]):
                            scores[index] = (quality * held[0], held[2])
            best = {i: [*best[i], score] for i, score in scores.items()}
            if not best:
                break
        return best

    def _most_words(
        self, looked_up: list[list[tuple[str, float]]]
    ) -> dict[int, list[tuple[float, str | None]]]:
        """The entries that match the most query words (at least one), with those words' (score, reason)."""
        matched: dict[int, list[tuple[float, str | None]]] = defaultdict(list)
        for found in looked_up:
            for index, score in self._scores(found).items():
                matched[index].append(score)
        most = max((len(m) for m in matched.values()), default=0)
        return {index: m for index, m in matched.items() if len(m) == most}

    def search(self, query: Query) -> list[tuple[int, str | None]]:
        """Every entry ``query`` finds, best first, each with why it matched (None: by its name). A query
        that is a code lists no entries matching only some of its words (``1-115574477`` is not "1")."""
        found: dict[int, tuple[tuple, str | None]] = {}
        coded = self.by_code(query.code) if query.code else []
        hits = coded + self.by_words(query, most=not coded)
        for key, index, why in hits:
            if index not in found or key < found[index][0]:
                found[index] = (key, why)
        return [(index, why) for index, (key, why) in sorted(found.items(), key=lambda item: item[1][0])]


def data_version(connection: sa.Connection) -> tuple:
    """What changes whenever the directory may have: the newest import, the organisations and links
    stored. Organisations, their names, addresses and successions are written only by imports."""
    org, rel, imp = schema.organisation, schema.org_relationship, schema.import_record
    query = sa.select(
        sa.select(sa.func.max(imp.c.id)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(org).scalar_subquery(),
        sa.select(sa.func.max(rel.c.id)).scalar_subquery(),
    )
    return tuple(connection.execute(query).one())


def load_directory(connection: sa.Connection) -> Directory:
    """Build the index from the store: every organisation's directory entry, type, town and postcode, the
    names of the organisations it succeeded (and theirs, and so on), its earlier names that a registry
    file replaced, and the places it is currently in."""
    org, rel = schema.organisation, schema.org_relationship
    rows = connection.execute(sa.select(*(org.c[c] for c in DIRECTORY_COLUMNS)).order_by(org.c.code))
    entries = [dict(zip(DIRECTORY_COLUMNS, map(_plain_value, row), strict=True)) for row in rows]
    position = {e["code"]: i for i, e in enumerate(entries)}
    texts: list[list[tuple[str, str, str | None]]] = [[] for _ in entries]
    for index, entry in enumerate(entries):
        kind_words = KIND_WORDS.get(OrgKind(entry["kind"]), "")
        texts[index] += [(NAME, entry["name"] or "", None), (KIND, kind_words, None)]
        if entry["town"]:
            town = entry["town"].title()
            texts[index].append((ADDRESS, town, f"in {town}"))
        if entry["postcode"]:
            outward, _, inward = entry["postcode"].partition(" ")
            texts[index].append((ADDRESS, f"{outward} {outward}{inward}", f"postcode {entry['postcode']}"))
    for code, former in former_names(connection).items():
        if code not in position:
            continue
        index = position[code]
        current = (entries[index]["name"] or "").lower()
        texts[index] += [(FORMER, name, f"formerly {name}") for name in former if name.lower() != current]
    places = org.alias("place")
    links = (
        sa.select(rel.c.subject_code, places.c.name)
        .join(places, places.c.code == rel.c.object_code)
        .where(
            rel.c.kind.in_([k.value for k in PLACE_LINKS]),
            rel.c.valid_to.is_(None),
            places.c.name.is_not(None),
        )
    )
    for code, name in connection.execute(links):
        texts[position[code]].append((PLACE, name, f"in {name}"))
    return Directory.build(entries, texts)


def _plain_value(value: Any) -> Any:
    """A directory value as JSON has it (a date as its ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def former_names(connection: sa.Connection) -> dict[str, list[str]]:
    """Names each organisation went by before, newest first: its own names that a registry file replaced
    (the audit log's ``organisation.renamed``), then those of the organisations it succeeded (merged into
    it or renamed to it) and, in turn, theirs."""
    org, rel, audit = schema.organisation, schema.org_relationship, schema.audit_event
    renamed = sa.select(audit.c.entity_key, audit.c.detail).where(audit.c.action == "organisation.renamed")
    own: dict[str, list[str]] = defaultdict(list)
    for code, detail in connection.execute(renamed.order_by(audit.c.id.desc())):
        if isinstance(detail, dict) and detail.get("from"):
            own[code].append(str(detail["from"]))
    succeeded = (
        sa.select(rel.c.object_code, rel.c.subject_code, org.c.name)
        .join(org, org.c.code == rel.c.subject_code)
        .where(rel.c.kind == RelationshipKind.SUCCEEDED_BY.value)
        .order_by(rel.c.valid_from.desc(), rel.c.subject_code)
    )
    predecessors: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for successor, predecessor, name in connection.execute(succeeded):
        predecessors[successor].append((predecessor, name))
    out: dict[str, list[str]] = {}
    for code in set(own) | set(predecessors):
        names, seen, todo = list(own.get(code, [])), {code}, [code]
        while todo:
            for before, name in predecessors.get(todo.pop(0), []):
                if before in seen:
                    continue
                seen.add(before)
                todo.append(before)
                names += [name] if name else []
                names += own.get(before, [])
        out[code] = list(dict.fromkeys(names))
    return out


_indexes: weakref.WeakKeyDictionary[sa.Engine, tuple[tuple, Directory]] = weakref.WeakKeyDictionary()
_building = threading.Lock()


def directory(connection: sa.Connection) -> Directory:
    """The index of the store ``connection`` reads, rebuilt when the store's data version has moved."""
    version = data_version(connection)
    held = _indexes.get(connection.engine)
    if held is not None and held[0] == version:
        return held[1]
    with _building:
        held = _indexes.get(connection.engine)
        if held is None or held[0] != version:
            held = (version, load_directory(connection))
            _indexes[connection.engine] = held
    return held[1]


def search_directory(
    db: Db,
    q: str | None = None,
    kind: str | None = None,
    sector: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> Page:
    """One page of the organisations ``q`` finds (all of them, by name, without ``q``), of ``kind`` and
    ``sector`` when given; each item is its directory entry and ``matched``, why it matched when not by
    its name."""
    with reading(db) as connection:
        index = directory(connection)
    if q and q.strip():
        found = index.search(Query.parse(q))
    else:
        by_name = sorted(
            range(len(index.entries)), key=lambda i: (index.entries[i]["name"] is None, index.order[i][2:])
        )
        found = [(i, None) for i in by_name]
    if kind or sector:
        found = [
            (i, why)
            for i, why in found
            if (not kind or index.entries[i]["kind"] == kind)
            and (not sector or index.entries[i]["sector"] == sector)
        ]
    page, size = page_bounds(page, page_size)
    shown = found[(page - 1) * size : page * size]
    items = [{**index.entries[i], "matched": why} for i, why in shown]
    return Page(items, len(found), page, size, RESULT_COLUMNS)
