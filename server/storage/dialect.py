"""The SQL of this package is written once, in SQLite's dialect; ``to_postgres`` rewrites a
statement for PostgreSQL (cached: the same few hundred statements come back all the time).

What it rewrites, and nothing else:

- parameters: ``?`` becomes ``%s`` and ``:name`` becomes ``%(name)s`` (a literal ``%`` is doubled);
- ``json_extract(col, '$.a.b')`` becomes ``(col::jsonb #>> '{a,b}')``: records are stored as
  the JSON text of their Struct (a pull splices it into the page as it is), read as ``jsonb``
  where a query looks inside them;
- ``json_each(col, '$.list') AS t`` (t.value) becomes ``jsonb_array_elements_text(...) AS t(value)``;
- ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` become ``ON CONFLICT`` clauses (the conflict key
  is the table's primary key, listed in ``PRIMARY_KEYS``);
- ``a IS b`` / ``a IS NOT b`` between values become ``IS [NOT] DISTINCT FROM``;
- SQLite's planner hints (``+column``, ``CROSS JOIN ... ON``) and ``temp.`` become nothing,
  ``JOIN`` and ``pg_temp.``.

``julianday`` and ``datetime('now')`` are SQL functions of the PostgreSQL schema with SQLite's
meaning (``schema_pg.py``), so timestamps stored as ISO text compare the same on both.

>>> to_postgres("SELECT id FROM records WHERE entity=? AND json_extract(data, '$.payload.kind')=:k")
"SELECT id FROM records WHERE entity=%s AND (data::jsonb #>> '{payload,kind}')=%(k)s"
>>> to_postgres("SELECT 1 FROM t WHERE assignee IS ? AND x IS NOT NULL AND d.parent IS NOT x.parent")
'SELECT 1 FROM t WHERE assignee IS NOT DISTINCT FROM %s AND x IS NOT NULL AND d.parent IS DISTINCT FROM x.parent'
"""

from __future__ import annotations

import functools
import re

PRIMARY_KEYS = {
    "meta": ("key",),
    "device_scope": ("device_id", "entity", "id"),
    "device_scope_pending": ("device_id", "entity", "id"),
    "scope_now": ("entity", "id"),
}

_JSON = re.compile(r"json_extract\(([\w.]+), '\$\.([\w.]+)'\)")
_EACH = re.compile(r"json_each\(([\w.]+), '\$\.([\w.]+)'\) AS (\w+)")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IS_NOT = re.compile(r"\bIS NOT (?!NULL\b|DISTINCT\b)")
_IS = re.compile(r"\bIS (?!NOT\b|NULL\b|DISTINCT\b)")
_HINT = re.compile(r"(?<![\w)])\+(?=[a-z_]+\b)")
_UPSERT = re.compile(r"^\s*INSERT OR (REPLACE|IGNORE) INTO ([\w.]+)\s*\(([^)]*)\)", re.S)


@functools.lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    out = sql.replace("%", "%%")
    out = _JSON.sub(lambda m: f"({m.group(1)}::jsonb #>> '{{{m.group(2).replace('.', ',')}}}')", out)
    out = _EACH.sub(
        lambda m: (
            f"jsonb_array_elements_text({m.group(1)}::jsonb #> '{{{m.group(2).replace('.', ',')}}}') "
            f"AS {m.group(3)}(value)"
        ),
        out,
    )
    out = out.replace("temp.scope_now", "pg_temp.scope_now").replace(" WITHOUT ROWID", "")
    out = out.replace(" CROSS JOIN ", " JOIN ")  # SQLite's join-order hint; an inner join to both
    out = _HINT.sub("", out)
    out = _IS_NOT.sub("IS DISTINCT FROM ", out)
    out = _IS.sub("IS NOT DISTINCT FROM ", out)
    upsert = _UPSERT.match(out)
    if upsert:
        how, table, columns = upsert.group(1), upsert.group(2), [c.strip() for c in upsert.group(3).split(",")]
        out = out[: upsert.start()] + f"INSERT INTO {table} ({upsert.group(3)})" + out[upsert.end() :]
        if how == "IGNORE":
            out += " ON CONFLICT DO NOTHING"
        else:
            key = PRIMARY_KEYS[table.split(".")[-1]]
            rest = [c for c in columns if c not in key]
            sets = ", ".join(f"{c}=excluded.{c}" for c in rest)
            out += f" ON CONFLICT ({', '.join(key)}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
    out = out.replace("?", "%s")
    return _NAMED.sub(r"%(\1)s", out)
