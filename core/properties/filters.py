"""The filter language, and listings filtered, sorted and grouped by any property.

A filter is terms separated by spaces; every term must hold, and `or` between
terms makes alternatives (`a b or c` is "a and b, or c"). A term is

    KEY:VALUE     tag, folder, path, name, format, cluster, has, or a property:
                  text contains VALUE (any case), a number or checkbox equals
                  it, a date lies in it (2024, 2024-03, 2024-03-05)
    KEY OP VALUE  OP is = != > >= < <= (numbers, dates, text)
    WORD          a file path containing WORD
    -TERM         the term does not hold

`tag:Subject/animal` holds for images with that tag or one below it, and
`Subject:animal` says the same; `has:Rating` for images with a value (or a tag)
of that property; `cluster:12` for the members of cluster 12. Sizes take
units (`size>2MB`). Names and values with spaces go in double quotes:
`"Trip notes":"New York"`. Example:

    tag:Subject/animal width>1920 date>=2024-01 folder:holidays -tag:rejected

Everything is turned into one SQL query over the project (no row passes
through Python), so a filter and a sort over a million images take a fraction
of a second. A term that cannot be understood raises `FilterError`, naming
the term, its column and what would be understood.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from planche.core.errors import BadParameter
from planche.core.properties.kinds import (
    BUILTINS,
    VALUE_COLUMN,
    PropertyType,
    date_span,
    parse_flag,
    parse_number,
)
from planche.core.properties.values import PropertyRow, property_kinds, tag_paths
from planche.core.store import Store

OPERATORS = (">=", "<=", "!=", ":", "=", ">", "<")
KEYWORDS = ("tag", "has", "cluster")
_TOKEN = re.compile(r'(?:"[^"]*"|[^\s"])+|"[^"]*$')
_TERM = re.compile(r'^(?P<neg>-)?(?P<key>"[^"]*"|[^\s:<>=!"]+)(?P<op>>=|<=|!=|:|=|>|<)'
                   r'(?P<value>"[^"]*"|[^"]*)$')  # fmt: skip
_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
# What a listing reads from an image's files: the first file by path stands for
# an image with copies (its size and time); a filter on paths looks at them all.
# Where no image has copies (the usual case) the files are read as they are:
# grouping them by image costs half the query at 1M.
_FIRST_FILES = (
    "first_files AS (SELECT image_id, min(path) AS path, arg_min(size, path) AS size, "
    "arg_min(mtime, path) AS mtime FROM files GROUP BY image_id), "
)
_EACH_FILE = "first_files AS (SELECT image_id, path, size, mtime FROM files), "
_FILE_COLUMNS = (
    "f AS (SELECT image_id, path, size, make_timestamp(CAST(mtime * 1000000 AS BIGINT)) "
    "AS modified, parse_dirpath(path) AS folder, parse_filename(path) AS name FROM first_files)"
)


def _files_cte(store: Store) -> str:
    rows = store.con.execute(
        "SELECT (SELECT count(*) FROM files) = (SELECT count(*) FROM images)"
    ).fetchall()
    return (_EACH_FILE if rows and rows[0][0] else _FIRST_FILES) + _FILE_COLUMNS


class FilterError(BadParameter):
    """A filter, sort or group that cannot be understood: one line naming the term."""

    def __init__(self, what: str, text: str, column: int, why: str) -> None:
        Exception.__init__(self, f"{what} {text!r} (column {column}): {why}")
        self.name = what


@dataclass
class Listing:
    """Image ids in order; with a grouping, (label, ids) sections in order (an
    image with several tags of the grouping's property is in each of their
    sections); `columns` holds the values shown beside each row of `rows`."""

    ids: np.ndarray
    groups: list[tuple[str, np.ndarray]] | None = None
    columns: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class _Query:
    """The parts of one listing's SQL, filled in as terms are read."""

    store: Store
    props: dict[str, PropertyRow]
    joins: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    joined: dict[int, str] = field(default_factory=dict)
    needs_files: bool = False

    def value_of(self, prop: PropertyRow) -> str:
        """The SQL expression of a typed property's value (joined once)."""
        if prop.id not in self.joined:
            alias = f"p{len(self.joined)}"
            self.joined[prop.id] = alias
            self.joins.append(f"LEFT JOIN property_values {alias} ON {alias}.property_id = "
                              f"{prop.id} AND {alias}.image_id = i.id")  # fmt: skip
        return f"{self.joined[prop.id]}.{VALUE_COLUMN[prop.type]}"

    def builtin(self, name: str) -> str:
        sql = BUILTINS[name].sql
        self.needs_files = self.needs_files or "f." in sql
        return sql

    def find(self, name: str) -> PropertyRow | Any:
        """A user property by name (any case when unambiguous), else None."""
        if name in self.props:
            return self.props[name]
        folded = [p for n, p in self.props.items() if n.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def known_names(self) -> list[str]:
        return [*BUILTINS, *KEYWORDS, *self.props]


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _tokens(text: str) -> list[tuple[str, int]]:
    found = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.count('"') % 2:
            raise FilterError("filter", token, match.start() + 1, 'a closing " is missing')
        found.append((token, match.start() + 1))
    return found


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _file_condition(what: str, value: str) -> tuple[str, list[Any]]:
    """Some file of the image has this folder, path or name."""
    if what == "folder":
        value = value.rstrip("/") or "/"
        if value.startswith("/"):  # a folder and what is below it
            test = "(parse_dirpath(x.path) = ? OR starts_with(x.path, ?))"
            return _any_file(test), [value, value.rstrip("/") + "/"]
        # a folder of that name (any case) anywhere on the path
        test = "lower('/' || parse_dirpath(x.path) || '/') LIKE ? ESCAPE '\\'"
        return _any_file(test), [f"%/{_like_escape(value.lower())}/%"]
    column = "x.path" if what == "path" else "parse_filename(x.path)"
    if any(c in value for c in "*?["):
        return _any_file(f"lower({column}) GLOB ?"), [value.lower()]
    return _any_file(f"lower({column}) LIKE ? ESCAPE '\\'"), [f"%{_like_escape(value.lower())}%"]


def _any_file(test: str) -> str:
    return f"i.id IN (SELECT x.image_id FROM files x WHERE {test})"


def _comparison(sql: str, kind: PropertyType, op: str, value: str, fail: Any,
                units: bool = False) -> tuple[str, list[Any]]:  # fmt: skip
    """`sql OP value` for a value of this type."""
    if kind == "number":
        number = parse_number(value, units=units)
        if number is None:
            fail("a number" + (" (units KB, MB, GB allowed)" if units else ""))
        op = "=" if op == ":" else op
        return f"{sql} {op} ?", [number]
    if kind == "date":
        span = date_span(value)
        if span is None:
            fail("a date: 2024, 2024-03, 2024-03-05 or 2024-03-05 14:30")
        start, end = span
        return {
            ":": (f"({sql} >= ? AND {sql} < ?)", [start, end]),
            "=": (f"({sql} >= ? AND {sql} < ?)", [start, end]),
            "!=": (f"NOT ({sql} >= ? AND {sql} < ?)", [start, end]),
            ">=": (f"{sql} >= ?", [start]),
            ">": (f"{sql} >= ?", [end]),
            "<": (f"{sql} < ?", [start]),
            "<=": (f"{sql} < ?", [end]),
        }[op]
    if kind == "checkbox":
        flag = parse_flag(value)
        if flag is None or op not in (":", "=", "!="):
            fail("true or false, with : = or !=")
        return (f"coalesce({sql}, false) {'!=' if op == '!=' else '='} ?", [flag])
    if op == ":":
        return f"lower({sql}) LIKE ? ESCAPE '\\'", [f"%{_like_escape(value.lower())}%"]
    if op in ("=", "!="):
        return f"lower({sql}) {op} ?", [value.lower()]
    return f"{sql} {op} ?", [value]


def _tag_ids(query: _Query, prop: PropertyRow, path: Sequence[str], fail: Any) -> list[int]:
    """The tag at `path` (names from the top, any case) and every tag below it."""
    tags = tag_paths(query.store, prop.id)
    wanted = tuple(p.lower() for p in path)
    ids = [t for t, names in tags if tuple(n.lower() for n in names[: len(wanted)]) == wanted]
    if not ids:
        known = sorted({"/".join(names) for _, names in tags})
        close = difflib.get_close_matches("/".join(path), known, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else (
            f"its tags: {', '.join(known[:8])}{', ...' if len(known) > 8 else ''}" if known
            else "it has no tags yet")  # fmt: skip
        fail(f"a tag of {prop.name}: {hint}")
    return ids


def _term(query: _Query, token: str, column: int) -> tuple[str, list[Any]]:
    """SQL for one term (without its `-`)."""

    def fail(expected: str) -> Any:
        raise FilterError("filter", token, column, f"expected {expected}")

    match = _TERM.match(token)
    if match is None and token[0] in "<>=!:":
        fail("a property before the operator, e.g. width>1920 or tag:Subject/animal")
    if match is None:  # a bare word: a path containing it
        return _file_condition("path", _unquote(token))
    key, op, value = _unquote(match["key"]), match["op"], _unquote(match["value"])
    if not value:
        fail(f"a value after {key}{op}")
    lowered = key.lower()
    if lowered == "tag":
        if op != ":":
            fail("tag:PROPERTY/TAG")
        name, *path = [p.strip() for p in value.split("/")]
        prop = query.find(name)
        if prop is None or prop.type != "tag":
            tag_props = [p.name for p in query.props.values() if p.type == "tag"]
            fail(f"a tag property ({', '.join(tag_props) or 'none yet'}) and a tag, "
                 "e.g. tag:Subject/animal")  # fmt: skip
        ids = _tag_ids(query, prop, path, fail) if path else [
            t for t, _ in tag_paths(query.store, prop.id)]  # fmt: skip
        return "i.id IN (SELECT image_id FROM image_tags WHERE tag_id IN (SELECT unnest(?)))", [ids]
    if lowered == "has":
        if op != ":":
            fail("has:PROPERTY")
        if value.lower() == "taken":
            return "i.exif_date IS NOT NULL", []
        prop = query.find(value)
        if prop is None:
            fail("a property: " + _suggest(query, value))
        if prop.type == "tag":
            return ("i.id IN (SELECT it.image_id FROM image_tags it JOIN tags t ON t.id = "
                    "it.tag_id WHERE t.property_id = ?)", [prop.id])  # fmt: skip
        return f"{query.value_of(prop)} IS NOT NULL", []
    if lowered == "cluster":
        if op != ":" or not value.isdigit():
            fail("cluster:ID, a cluster id (`planche clusters`)")
        return "i.id IN (SELECT image_id FROM cluster_members WHERE cluster_id = ?)", [int(value)]
    if lowered in ("folder", "path", "name") and op == ":":
        return _file_condition(lowered, value)
    if lowered == "format" and op in (":", "=", "!="):
        wanted = _FORMAT_ALIASES.get(value.lower(), value.lower())
        return f"lower(i.format) {'!=' if op == '!=' else '='} ?", [wanted]
    if lowered in BUILTINS:
        builtin = BUILTINS[lowered]
        return _comparison(query.builtin(lowered), builtin.type, op, value, fail,
                           units=lowered == "size")  # fmt: skip
    prop = query.find(key)
    if prop is None:
        raise FilterError("filter", token, column, f"{key!r} is not a property: "
                          + _suggest(query, key))  # fmt: skip
    if prop.type == "tag":
        if op != ":":
            fail(f"{prop.name}:TAG (a tag property)")
        path = [p.strip() for p in value.split("/")]
        ids = _tag_ids(query, prop, path, fail)
        return "i.id IN (SELECT image_id FROM image_tags WHERE tag_id IN (SELECT unnest(?)))", [ids]
    return _comparison(query.value_of(prop), prop.type, op, value, fail)


def _suggest(query: _Query, name: str) -> str:
    close = difflib.get_close_matches(name, query.known_names(), n=3)
    if close:
        return f"did you mean {', '.join(close)}?"
    return "known: " + ", ".join(query.known_names())


def _where(query: _Query, text: str) -> str:
    alternatives: list[list[str]] = [[]]
    for token, column in _tokens(text):
        if token.lower() == "or":
            if not alternatives[-1]:
                raise FilterError("filter", token, column, "expected a term before `or`")
            alternatives.append([])
            continue
        negate = token.startswith("-") and len(token) > 1
        sql, params = _term(query, token[1:] if negate else token, column)
        alternatives[-1].append(f"NOT ({sql})" if negate else f"({sql})")
        query.params.extend(params)
    if not alternatives[-1] and len(alternatives) > 1:
        raise FilterError("filter", "or", len(text), "expected a term after `or`")
    ors = [" AND ".join(terms) for terms in alternatives if terms]
    return " OR ".join(f"({o})" for o in ors) if ors else "true"


def _sort_keys(query: _Query, text: str) -> list[str]:
    keys = []
    for part, column in _tokens(text.replace(",", " ")):
        descending = part.startswith("-")
        name = _unquote(part[1:] if descending else part)
        direction = "DESC" if descending else "ASC"
        if name.lower() in BUILTINS:
            keys.append(f"{query.builtin(name.lower())} {direction} NULLS LAST")
            continue
        prop = query.find(name)
        if prop is None or prop.type == "tag":
            why = "tag properties group, they do not sort" if prop else _suggest(query, name)
            raise FilterError("sort", part, column, f"expected a property to sort by: {why}")
        keys.append(f"{query.value_of(prop)} {direction} NULLS LAST")
    return keys


def _group(query: _Query, text: str) -> tuple[str, str]:
    """(SQL of a group's label, a join giving it) for `--group-by`."""
    name = _unquote(text.strip())
    lowered = name.lower()
    if lowered.startswith("cluster:") and lowered[8:].isdigit():
        clustering = int(lowered[8:])
        join = ("LEFT JOIN (SELECT cm.image_id, c.idx, coalesce(c.label, '') AS label "
                "FROM cluster_members cm JOIN clusters c ON c.id = cm.cluster_id "
                f"WHERE c.clustering_id = {clustering}) g ON g.image_id = i.id")  # fmt: skip
        return "trim(format('{} {}', g.idx, g.label))", join
    if lowered in BUILTINS:
        builtin = BUILTINS[lowered]
        sql = query.builtin(lowered)
        if builtin.type == "date":
            return f"strftime({sql}, '%Y-%m')", ""
        return f"CAST({sql} AS VARCHAR)", ""
    prop = query.find(name)
    if prop is None:
        raise FilterError("group", text, 1, "expected a property, or cluster:CLUSTERING_ID: "
                          + _suggest(query, name))  # fmt: skip
    if prop.type == "tag":
        tags = tag_paths(query.store, prop.id)
        query.store.con.execute("CREATE OR REPLACE TEMP TABLE planche_group_tags "
                                "(tag_id INTEGER, label VARCHAR)")  # fmt: skip
        if tags:
            query.store.con.executemany("INSERT INTO planche_group_tags VALUES (?, ?)",
                                        [[t, "/".join(p)] for t, p in tags])  # fmt: skip
        join = (
            "LEFT JOIN (SELECT it.image_id, gt.label FROM image_tags it JOIN "
            "planche_group_tags gt ON gt.tag_id = it.tag_id) g ON g.image_id = i.id"
        )
        return "g.label", join
    value = query.value_of(prop)
    if prop.type == "date":
        return f"strftime({value}, '%Y-%m')", ""
    return f"CAST({value} AS VARCHAR)", ""


NO_VALUE = "(none)"


def list_images(
    store: Store,
    where: str = "",
    sort: str = "",
    group: str = "",
    *,
    within: Sequence[int] | None = None,
    columns: Sequence[str] = (),
) -> Listing:
    """The images that pass `where`, sorted by `sort` (`size,-date`), in sections
    by `group`, restricted to `within` when given (a scope's ids, kept in their
    order when there is no sort). `columns`: property names whose values to return."""
    query = _Query(store, {p.name: p for p in property_kinds(store)})
    condition = _where(query, where or "")
    keys = _sort_keys(query, sort) if sort and sort.strip() else []
    label_sql, group_join = _group(query, group) if group and group.strip() else ("NULL", "")
    shown = []
    for name in columns:
        if name.lower() in BUILTINS:
            shown.append(query.builtin(name.lower()))
            continue
        prop = query.find(name)
        if prop is None or prop.type == "tag":
            raise FilterError("column", name, 1, "expected a typed or built-in property: "
                              + _suggest(query, name))  # fmt: skip
        shown.append(query.value_of(prop))
    ctes = [_files_cte(store)] if query.needs_files else []
    files_join = "LEFT JOIN f ON f.image_id = i.id" if query.needs_files else ""
    scope_join, scope_order = "", []
    if within is not None:
        store.con.execute(
            "CREATE OR REPLACE TEMP TABLE planche_scope (image_id INTEGER, pos INTEGER)"
        )
        store.con.execute("INSERT INTO planche_scope SELECT unnest(?), generate_subscripts(?, 1)",
                          [list(within), list(within)])  # fmt: skip
        scope_join = "JOIN planche_scope s ON s.image_id = i.id"
        scope_order = ["s.pos"]
    order = (
        [f"({label_sql}) IS NULL", f"({label_sql})"] if group_join or label_sql != "NULL" else []
    )
    order += keys + scope_order + ["i.id"]
    with_clause = ("WITH " + ", ".join(ctes) + " ") if ctes else ""
    select = ", ".join(["i.id", f"({label_sql}) AS planche_group", *shown])
    sql = (
        f"{with_clause}SELECT {select} FROM images i {scope_join} {files_join} {group_join} "
        f"{' '.join(query.joins)} WHERE {condition} ORDER BY {', '.join(order)}"
    )
    result = store.con.sql(sql, params=query.params).to_arrow_table()
    ids = result.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
    listing = Listing(ids=ids)
    for index, name in enumerate(columns):
        listing.columns[name] = result.column(2 + index).to_pylist()
    if group and group.strip():
        listing.groups = _sections(ids, result.column(1))
        # an image in several sections is listed once, where it first shows
        _, first = np.unique(ids, return_index=True)
        listing.ids = ids[np.sort(first)]
    return listing


def _sections(ids: np.ndarray, labels: pa.ChunkedArray) -> list[tuple[str, np.ndarray]]:
    """(label, ids) for each run of one label in the sorted rows, found by
    comparing neighbours in Arrow: no Python step per row (1M rows, 300 groups)."""
    import pyarrow.compute as pc  # 30 ms to load: only when used, not at start

    if not len(labels):
        return []
    missing = pc.or_kleene(pc.is_null(labels), pc.equal(labels, ""))
    labels = pc.if_else(missing, pa.scalar(NO_VALUE), labels.cast(pa.string()))
    flat = labels.combine_chunks()
    changed = pc.not_equal(flat.slice(1), flat.slice(0, len(flat) - 1))
    starts = np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1
    names = flat.take(pa.array(np.concatenate([[0], starts]))).to_pylist()
    return list(zip(names, np.split(ids, starts), strict=True))


def saved_views(store: Store) -> dict[str, dict[str, str]]:
    """Each saved view by name (the latest `save_view` in effect; empty: forgotten)."""
    import json

    rows = store.con.execute(
        "SELECT params FROM journal WHERE command = 'save_view' AND status = 'done' ORDER BY seq"
    ).fetchall()
    views: dict[str, dict[str, str]] = {}
    for (params,) in rows:
        run = json.loads(params)
        view = {k: run.get(k, "") for k in ("where", "sort", "group")}
        if any(v.strip() for v in view.values()):
            views[run["name"]] = view
        else:
            views.pop(run["name"], None)
    return views
