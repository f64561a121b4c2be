"""The seed story's downgrade through a real Alembic migration that calls the sqlite-rebuild
CLI: refused with the report (nothing changed), then done with the rules. Needs alembic
(requirements.txt) and SQLITE_REBUILD_CLI pointing at the binary."""
import os
import pathlib
import sqlite3
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = HERE.parent
RULES = "--remap phase action strategize --remap processing_state applied complete " \
        "--remap processing_state constrained complete"


def seed(path):
    conn = sqlite3.connect(path)
    conn.executescript((EXAMPLES / "v3_plans.sql").read_text())
    for i in range(1, 41):
        phase = ["action", "strategize", "action", "execute"][i % 4]
        state = ["applied", "queued", "constrained"][i % 3]
        conn.execute(
            "INSERT INTO v3_plans (id, name, phase, processing_state) VALUES (?, ?, ?, ?)",
            (i, f"plan {i}", phase, state),
        )
        for child in ("plan_projects", "plan_arguments", "plan_invariants"):
            column = {"plan_projects": "project", "plan_arguments": "argument",
                      "plan_invariants": "invariant"}[child]
            conn.execute(f"INSERT INTO {child} (plan_id, {column}) VALUES (?, 'x')", (i,))
    conn.commit()
    conn.close()


def dump(path):
    conn = sqlite3.connect(path)
    out = list(conn.execute("SELECT type, name, sql FROM sqlite_schema ORDER BY name"))
    for (table,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"):
        out += [(table, row) for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
    conn.close()
    return out


def alembic(db, *args, rules=""):
    env = dict(os.environ, PLANS_DB=str(db), REBUILD_RULES=rules)
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(HERE / "alembic.ini"), *args],
        env=env, capture_output=True, text=True,
    )


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = pathlib.Path(tmp) / "plans.db"
        seed(db)
        assert alembic(db, "stamp", "0002").returncode == 0
        before = dump(db)

        refused = alembic(db, "downgrade", "0001")
        assert refused.returncode != 0, refused
        assert "CHECK ck_v3_plans_phase: 20 rows" in refused.stderr, refused.stderr
        assert dump(db) == before, "a refused downgrade changes nothing"
        print("refused, nothing changed:")
        print(refused.stderr[refused.stderr.rindex("RuntimeError: ") + 14:].strip())

        done = alembic(db, "downgrade", "0001", rules=RULES)
        assert done.returncode == 0, done.stderr
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert conn.execute("SELECT count(*) FROM v3_plans WHERE phase = 'action'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM v3_plans").fetchone() == (40,)
        for child in ("plan_projects", "plan_arguments", "plan_invariants"):
            assert conn.execute(f"SELECT count(*) FROM {child}").fetchone() == (40,), child
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        print("downgraded with the rules: 40 plans, every child row kept")


if __name__ == "__main__":
    main()
