-- The current Ruvon schema, used for fresh installs. Existing databases reach the same schema
-- through migrations/ (a test checks that both paths agree). Tokens in braces are dialect
-- types: {json} {float} {bool} {serial_pk} {without_rowid}.

CREATE TABLE ruvon_schema (version INTEGER NOT NULL);

CREATE TABLE ruvon_definitions (
    digest TEXT PRIMARY KEY,
    workflow_type TEXT NOT NULL,
    workflow_version TEXT NOT NULL,
    snapshot {json} NOT NULL,
    created_at {float} NOT NULL
);

CREATE TABLE ruvon_workflows (
    id TEXT PRIMARY KEY,
    workflow_type TEXT NOT NULL,
    workflow_version TEXT NOT NULL,
    definition_digest TEXT NOT NULL REFERENCES ruvon_definitions (digest),
    status TEXT NOT NULL,
    state {json} NOT NULL,
    current_step INTEGER NOT NULL,
    saga_mode {bool} NOT NULL,
    idempotency_key TEXT UNIQUE,
    parent_id TEXT,
    owner_id TEXT,
    metadata {json} NOT NULL,
    error {json},
    created_at {float} NOT NULL,
    updated_at {float} NOT NULL,
    version INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at {float},
    cancel_requested TEXT,
    frames {json}
);
CREATE INDEX ruvon_workflows_created ON ruvon_workflows (created_at);
CREATE INDEX ruvon_workflows_type ON ruvon_workflows (workflow_type);
CREATE INDEX ruvon_workflows_status ON ruvon_workflows (status);

CREATE TABLE ruvon_step_attempts (
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at {float} NOT NULL,
    ended_at {float},
    duration_ms {float},
    result {json},
    error {json},
    scope TEXT NOT NULL DEFAULT '',
    item {json},
    state_after {json},
    PRIMARY KEY (workflow_id, seq)
){without_rowid};

CREATE TABLE ruvon_compensations (
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    sequence INTEGER NOT NULL,
    forward_seq INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    function TEXT,
    status TEXT NOT NULL,
    started_at {float} NOT NULL,
    ended_at {float},
    duration_ms {float},
    attempts INTEGER NOT NULL,
    error {json},
    detail TEXT,
    decided_by TEXT,
    result {json},
    scope TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workflow_id, sequence)
){without_rowid};

CREATE TABLE ruvon_logs (
    id {serial_pk},
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    at {float} NOT NULL,
    log_level TEXT NOT NULL,
    message TEXT NOT NULL,
    step_name TEXT,
    extra {json}
);
CREATE INDEX ruvon_logs_workflow ON ruvon_logs (workflow_id, id);

CREATE TABLE ruvon_audit (
    id {serial_pk},
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    at {float} NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX ruvon_audit_workflow ON ruvon_audit (workflow_id, id);

CREATE TABLE ruvon_metrics (
    id {serial_pk},
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    at {float} NOT NULL,
    name TEXT NOT NULL,
    value {float} NOT NULL
);
CREATE INDEX ruvon_metrics_workflow ON ruvon_metrics (workflow_id, id);

CREATE TABLE ruvon_schedules (
    name TEXT PRIMARY KEY,
    workflow_type TEXT NOT NULL,
    workflow_version TEXT,
    cron_expression TEXT NOT NULL,
    initial_data {json} NOT NULL,
    enabled {bool} NOT NULL,
    next_due_at {float} NOT NULL,
    last_tick_at {float},
    created_at {float} NOT NULL,
    updated_at {float} NOT NULL
);

INSERT INTO ruvon_schema (version) VALUES (7);
