"""v3: phase 'action' and the states 'applied' and 'constrained'.

The downgrade is the one that started sqlite-rebuild: v3 rows do not fit v2's CHECKs. It asks
the sqlite-rebuild CLI first (`check`, read-only): when rows would violate v2 it stops with the
report, and nothing has changed. Otherwise it renders the guarded script (`script`) and runs
it here, inside Alembic's own transaction, statement by statement.
"""
import os
import pathlib
import sqlite3
import subprocess

from alembic import op

revision = "0002"
down_revision = "0001"

EXAMPLES = pathlib.Path(__file__).resolve().parents[3]
CLI = os.environ.get("SQLITE_REBUILD_CLI", "sqlite-rebuild")


def upgrade():
    # v3 only widens the CHECKs; the seed in run.py creates it directly.
    pass


def downgrade():
    db = op.get_bind().engine.url.database
    target = str(EXAMPLES / "v3_plans_v2.sql")
    # The rules for the way back, e.g. "--remap phase action strategize ...".
    rules = os.environ.get("REBUILD_RULES", "").split()
    args = [db, "v3_plans", "--target", target, "--sample-size", "3", *rules]
    check = subprocess.run([CLI, "check", *args], capture_output=True, text=True)
    if check.returncode == 1:
        raise RuntimeError("the downgrade would break v2's constraints:\n" + check.stdout)
    if check.returncode != 0:
        raise RuntimeError(check.stderr.strip())
    script = subprocess.run(
        [CLI, "script", *args], capture_output=True, text=True, check=True
    ).stdout
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip() and not all(
                l.strip().startswith("--") or not l.strip() for l in statement.splitlines()
            ):
                op.get_bind().exec_driver_sql(statement)
            statement = ""
