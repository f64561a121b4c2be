CREATE TABLE v3_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT 'strategize',
    processing_state TEXT NOT NULL DEFAULT 'queued',
    updated_at TEXT,
    CONSTRAINT ck_v3_plans_phase
        CHECK (phase IN ('strategize', 'execute', 'apply', 'applied')),
    CONSTRAINT ck_v3_plans_state
        CHECK (processing_state IN ('queued', 'processing', 'errored', 'complete', 'cancelled'))
)
