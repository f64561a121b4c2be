-- The v3 schema of the plans store: `phase` and `processing_state` accept values that the
-- v2 schema (the downgrade target) does not.
CREATE TABLE v3_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT 'strategize',
    processing_state TEXT NOT NULL DEFAULT 'queued',
    updated_at TEXT,
    CONSTRAINT ck_v3_plans_phase
        CHECK (phase IN ('strategize', 'execute', 'apply', 'applied', 'action')),
    CONSTRAINT ck_v3_plans_state
        CHECK (processing_state IN ('queued', 'processing', 'errored', 'complete', 'cancelled',
                                    'applied', 'constrained'))
);
CREATE TABLE plan_projects (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL REFERENCES v3_plans (id) ON DELETE CASCADE,
    project TEXT NOT NULL
);
CREATE TABLE plan_arguments (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL REFERENCES v3_plans (id) ON DELETE CASCADE,
    argument TEXT NOT NULL
);
CREATE TABLE plan_invariants (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL REFERENCES v3_plans (id) ON DELETE CASCADE,
    invariant TEXT NOT NULL
);
CREATE INDEX v3_plans_by_phase ON v3_plans (phase, processing_state);
CREATE TABLE plan_events (plan_id INTEGER, event TEXT);
CREATE TRIGGER v3_plans_phase_changed AFTER UPDATE OF phase ON v3_plans
BEGIN
    INSERT INTO plan_events (plan_id, event) VALUES (new.id, 'phase:' || new.phase);
END;
-- Fires if a cascade ever deletes a child row.
CREATE TRIGGER plan_projects_deleted AFTER DELETE ON plan_projects
BEGIN
    INSERT INTO plan_events (plan_id, event) VALUES (old.plan_id, 'project deleted');
END;
CREATE VIEW active_plans AS
    SELECT p.id, p.name, p.phase, count(pp.id) AS projects
    FROM v3_plans AS p LEFT JOIN plan_projects AS pp ON pp.plan_id = p.id
    WHERE p.processing_state <> 'cancelled'
    GROUP BY p.id;
