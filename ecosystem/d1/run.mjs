// The v3_plans story on Cloudflare D1, run locally by miniflare (workerd's D1): D1 always
// enforces foreign keys, refuses BEGIN and SAVEPOINT, refuses TEMP objects and
// writable_schema, and runs a batch() atomically. The fixture (cli/examples/engine_fixture.rs)
// holds the setup, the rendered downgrade (ScriptOptions::without_transaction, as a list of
// statements), the same with no rules (refused), and the databases SQLite makes of them.
//
//   node run.mjs FIXTURE.json
import { Miniflare } from "miniflare";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const fixture = JSON.parse(readFileSync(process.argv[2], "utf8"));
const script = fixture.scripts.copy;

async function d1() {
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response('') } }",
    d1Databases: ["DB"],
  });
  return { mf, db: await mf.getD1Database("DB") };
}

async function batch(db, statements) {
  return db.batch(statements.map((s) => db.prepare(s)));
}

// The schema (but D1's own tables) and every row of every table, rowid first: the shape
// engine_fixture dumps.
async function dump(db) {
  const schema = await db
    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY type, name")
    .raw();
  const rows = {};
  for (const [type, name] of schema) {
    if (type !== "table") continue;
    rows[name] = await db.prepare(`SELECT rowid, * FROM "${name}" ORDER BY rowid`).raw();
  }
  return { schema, rows };
}

async function scalar(db, sql) {
  return (await db.prepare(sql).raw())[0][0];
}

let checks = 0;
{
  // The downgrade with the rules: every row, trigger, index and view as SQLite makes them.
  const { mf, db } = await d1();
  await batch(db, fixture.setup);
  assert.deepEqual(await dump(db), fixture.before, "the setup is the same on D1");
  assert.equal(await scalar(db, "PRAGMA foreign_keys"), 1, "D1 enforces foreign keys");
  await batch(db, script.rebuild);
  assert.deepEqual(await dump(db), script.after);
  for (const child of ["plan_projects", "plan_arguments", "plan_invariants"]) {
    assert.equal(await scalar(db, `SELECT count(*) FROM ${child}`), fixture.plans, `no cascade into ${child}`);
  }
  assert.equal(await scalar(db, "SELECT count(*) FROM plan_events"), 0, "no trigger fired");
  assert.equal(await scalar(db, "SELECT count(*) FROM v3_plans WHERE phase = 'action'"), 0);
  assert.equal(await scalar(db, "SELECT count(*) FROM active_plans"), fixture.plans, "the view reads");
  assert.equal(await scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  // The references are live: a delete cascades, the children's trigger fires.
  await db.prepare("DELETE FROM v3_plans WHERE id = 1").run();
  assert.equal(await scalar(db, "SELECT count(*) FROM plan_projects"), fixture.plans - 1);
  assert.equal(await scalar(db, "SELECT count(*) FROM plan_events"), 1);
  await mf.dispose();
  checks++;
}
{
  // With no rules, a guard refuses: the batch fails naming the constraint, and D1 rolls
  // it back whole.
  const { mf, db } = await d1();
  await batch(db, fixture.setup);
  await assert.rejects(batch(db, script.refused), /ck_v3_plans_phase/);
  assert.deepEqual(await dump(db), fixture.before, "a refused script changes nothing");
  await mf.dispose();
  checks++;
}
console.log(`D1 (miniflare): ${checks} scenarios passed, ${fixture.plans} plans`);
