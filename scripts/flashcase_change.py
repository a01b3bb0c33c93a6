#!/usr/bin/env python3
"""Change 1 % of the rows of a FlashCase database the way its application would (issue 16's benchmark).

    python3 scripts/flashcase_change.py DB [--offset K] [--every N]

Run in its own process through Python's sqlite3 module, as the application writes while ferry's
load runs. In every table, in key order, every N-th row (default 100, from position K, default 50)
is touched in turn: updated, deleted, or copied to a new row. So every range of N consecutive rows
of every table holds a change, and a comparison that skips unchanged ranges still has to find rows
in all of them (the point of the benchmark: sync must not get away with comparing a few ranges).

- updates change a column the application changes (text appended, a flag flipped, a number moved,
  updated_at set);
- deletes take the rows that point at the deleted row with them (children first), as the
  application's ON DELETE CASCADE relationships do, so the target's foreign keys still hold;
- inserts copy the touched row under a new key past the table's largest (the application's next
  id), with unique columns made unique (user's email and username; a deckmetadata row is given to
  a deck inserted by this run, since deck_id is unique).

Prints one line per table (updated, deleted, inserted, cascaded) and the totals; commits once.
"""

import argparse
import sqlite3
import sys

NOW = "2026-12-06 10:00:00.000000"

# Parents first, so that a copied row's parent exists and new decks exist before their metadata.
ORDER = ["user", "deck", "card", "deckmetadata", "studylog", "userdeck"]

UPDATES = {
    "user": ("UPDATE user SET is_active = 1 - is_active, updated_at = ? WHERE id = ?", True),
    "deck": ("UPDATE deck SET description = coalesce(description, '') || ' (edited)', updated_at = ? WHERE id = ?", True),
    "card": ("UPDATE card SET back = back || ' (edited)', updated_at = ? WHERE id = ?", True),
    "deckmetadata": (
        "UPDATE deckmetadata SET total_reviews = total_reviews + 1, last_studied = ?, updated_at = last_studied WHERE id = ?",
        True,
    ),
    "studylog": ("UPDATE studylog SET ease_factor = ease_factor + 0.125, interval = interval + 1 WHERE id = ?", False),
    "userdeck": ("UPDATE userdeck SET is_favorite = 1 - is_favorite WHERE id = ?", False),
}


def children(conn):
    """(child table, column) pointing at each table, from SQLite's own foreign-key list."""
    refs = {t: [] for t in ORDER}
    for t in ORDER:
        for row in conn.execute(f'SELECT "table", "from" FROM pragma_foreign_key_list(?)', (t,)):
            refs.setdefault(row[0], []).append((t, row[1]))
    return refs


def delete(conn, refs, table, ids, counts):
    """Delete `ids` of `table` and, first, every row pointing at them (recursively)."""
    if not ids:
        return
    for child, col in refs.get(table, []):
        marks = ",".join("?" * len(ids))
        sub = [r[0] for r in conn.execute(f'SELECT id FROM "{child}" WHERE "{col}" IN ({marks})', ids)]
        for i in range(0, len(sub), 500):
            delete(conn, refs, child, sub[i : i + 500], counts)
        counts.setdefault(child, [0, 0, 0, 0])[3] += len(sub)
    marks = ",".join("?" * len(ids))
    conn.execute(f'DELETE FROM "{table}" WHERE id IN ({marks})', ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--offset", type=int, default=50)
    ap.add_argument("--every", type=int, default=100)
    a = ap.parse_args()
    conn = sqlite3.connect(a.db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("BEGIN IMMEDIATE")
    refs = children(conn)
    counts = {}
    new_decks = []
    for t in ORDER:
        c = counts.setdefault(t, [0, 0, 0, 0])
        ids = [r[0] for r in conn.execute(f'SELECT id FROM "{t}" ORDER BY id')]
        touched = ids[a.offset :: a.every]
        top = ids[-1] if ids else 0
        cols = [r[1] for r in conn.execute(f'SELECT * FROM pragma_table_info("{t}") ORDER BY cid')]
        others = [x for x in cols if x != "id"]
        for j, rid in enumerate(touched):
            op = j % 3
            if op == 0 or (op == 2 and t == "deckmetadata" and not new_decks):
                sql, stamped = UPDATES[t]
                conn.execute(sql, (NOW, rid) if stamped else (rid,))
                c[0] += 1
            elif op == 1:
                # Still there (a cascade from a parent may have taken it already)?
                if conn.execute(f'SELECT 1 FROM "{t}" WHERE id = ?', (rid,)).fetchone():
                    delete(conn, refs, t, [rid], counts)
                    c[1] += 1
            else:
                top += 1
                values = ", ".join(
                    {
                        ("user", "email"): "'new' || ?2 || '.' || email",
                        ("user", "username"): "username || '.new' || ?2",
                        ("deckmetadata", "deck_id"): "?3",
                    }.get((t, x), f'"{x}"')
                    for x in others
                )
                deck = new_decks.pop() if t == "deckmetadata" else None
                cur = conn.execute(
                    f'INSERT INTO "{t}" (id, {", ".join(chr(34) + x + chr(34) for x in others)}) '
                    f'SELECT ?1, {values} FROM "{t}" WHERE id = ?4',
                    (top, top, deck, rid),
                )
                if cur.rowcount == 1:
                    c[2] += 1
                    if t == "deck":
                        new_decks.append(top)
    conn.execute("COMMIT")
    total = [0, 0, 0, 0]
    for t in ORDER:
        c = counts[t]
        total = [x + y for x, y in zip(total, c)]
        print(f"{t}: updated {c[0]}, deleted {c[1]}, inserted {c[2]}, deleted with a parent {c[3]}")
    print(f"total: updated {total[0]}, deleted {total[1]}, inserted {total[2]}, deleted with a parent {total[3]}")
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
