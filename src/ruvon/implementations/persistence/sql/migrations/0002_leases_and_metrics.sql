-- Version 2: runner leases for crash recovery, and per-workflow metrics.
ALTER TABLE ruvon_workflows ADD COLUMN lease_owner TEXT;
ALTER TABLE ruvon_workflows ADD COLUMN lease_expires_at {float};

CREATE TABLE ruvon_metrics (
    id {serial_pk},
    workflow_id TEXT NOT NULL REFERENCES ruvon_workflows (id) ON DELETE CASCADE,
    at {float} NOT NULL,
    name TEXT NOT NULL,
    value {float} NOT NULL
);
CREATE INDEX ruvon_metrics_workflow ON ruvon_metrics (workflow_id, id);

UPDATE ruvon_schema SET version = 2;
