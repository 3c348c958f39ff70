-- Every query the SQL stores run, once for both dialects. Parameters are :name; the Postgres
-- store rewrites them to $1..$n. Each query starts with a "-- name:" line.

-- name: schema_version
SELECT version FROM ruvon_schema

-- name: insert_definition
INSERT INTO ruvon_definitions (digest, workflow_type, workflow_version, snapshot, created_at)
VALUES (:digest, :workflow_type, :workflow_version, :snapshot, :created_at)
ON CONFLICT (digest) DO NOTHING

-- name: insert_workflow
INSERT INTO ruvon_workflows (
    id, workflow_type, workflow_version, definition_digest, status, state, current_step,
    saga_mode, idempotency_key, parent_id, owner_id, metadata, error, created_at, updated_at,
    version, lease_owner, lease_expires_at
) VALUES (
    :id, :workflow_type, :workflow_version, :definition_digest, :status, :state, :current_step,
    :saga_mode, :idempotency_key, :parent_id, :owner_id, :metadata, :error, :created_at,
    :updated_at, :version, :lease_owner, :lease_expires_at
)
ON CONFLICT (idempotency_key) DO NOTHING

-- name: select_workflow
SELECT w.*, d.snapshot AS definition
FROM ruvon_workflows w JOIN ruvon_definitions d ON d.digest = w.definition_digest
WHERE w.id = :id

-- name: select_workflow_by_key
SELECT w.*, d.snapshot AS definition
FROM ruvon_workflows w JOIN ruvon_definitions d ON d.digest = w.definition_digest
WHERE w.idempotency_key = :idempotency_key

-- name: list_workflows
SELECT w.*, d.snapshot AS definition
FROM ruvon_workflows w JOIN ruvon_definitions d ON d.digest = w.definition_digest
WHERE (:status IS NULL OR w.status = :status)
  AND (:workflow_type IS NULL OR w.workflow_type = :workflow_type)
ORDER BY w.created_at DESC
LIMIT :limit

-- name: update_workflow
UPDATE ruvon_workflows
SET status = :status, state = :state, current_step = :current_step, saga_mode = :saga_mode,
    error = :error, updated_at = :updated_at, version = version + 1,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at
WHERE id = :id AND version = :expected_version

-- name: select_version
SELECT version, lease_owner FROM ruvon_workflows WHERE id = :id

-- name: claim_workflow
UPDATE ruvon_workflows
SET lease_owner = :owner, lease_expires_at = :expires_at, version = version + 1
WHERE id = :id AND version = :expected_version
  AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires_at < :now)

-- name: renew_lease
UPDATE ruvon_workflows SET lease_expires_at = :expires_at
WHERE id = :id AND lease_owner = :owner

-- name: find_recoverable
SELECT id FROM ruvon_workflows
WHERE status IN ('ACTIVE', 'COMPENSATING') AND lease_owner IS NOT NULL
  AND lease_expires_at < :now
ORDER BY lease_expires_at
LIMIT :limit

-- name: upsert_step_attempt
INSERT INTO ruvon_step_attempts (
    workflow_id, seq, step_name, step_index, attempt, status, started_at, ended_at,
    duration_ms, result, error
) VALUES (
    :workflow_id, :seq, :step_name, :step_index, :attempt, :status, :started_at, :ended_at,
    :duration_ms, :result, :error
)
ON CONFLICT (workflow_id, seq) DO UPDATE SET
    status = excluded.status, ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
    result = excluded.result, error = excluded.error

-- name: select_step_attempts
SELECT * FROM ruvon_step_attempts WHERE workflow_id = :workflow_id ORDER BY seq

-- name: upsert_compensation
INSERT INTO ruvon_compensations (
    workflow_id, sequence, forward_seq, step_name, step_index, function, status, started_at,
    ended_at, duration_ms, attempts, error, detail, decided_by, result
) VALUES (
    :workflow_id, :sequence, :forward_seq, :step_name, :step_index, :function, :status,
    :started_at, :ended_at, :duration_ms, :attempts, :error, :detail, :decided_by, :result
)
ON CONFLICT (workflow_id, sequence) DO UPDATE SET
    status = excluded.status, ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
    attempts = excluded.attempts, error = excluded.error, detail = excluded.detail,
    decided_by = excluded.decided_by, result = excluded.result

-- name: select_compensations
SELECT * FROM ruvon_compensations WHERE workflow_id = :workflow_id ORDER BY sequence

-- name: insert_audit
INSERT INTO ruvon_audit (workflow_id, at, from_status, to_status, reason)
VALUES (:workflow_id, :at, :from_status, :to_status, :reason)

-- name: select_audit
SELECT from_status, to_status, at, reason FROM ruvon_audit
WHERE workflow_id = :workflow_id ORDER BY id

-- name: insert_log
INSERT INTO ruvon_logs (workflow_id, at, log_level, message, step_name, extra)
VALUES (:workflow_id, :at, :log_level, :message, :step_name, :extra)

-- name: select_logs
SELECT at, log_level, message, step_name, extra FROM ruvon_logs
WHERE workflow_id = :workflow_id ORDER BY id

-- name: insert_metric
INSERT INTO ruvon_metrics (workflow_id, at, name, value)
VALUES (:workflow_id, :at, :name, :value)

-- name: select_metrics
SELECT name, value FROM ruvon_metrics WHERE workflow_id = :workflow_id ORDER BY id

-- name: workflow_exists
SELECT 1 AS found FROM ruvon_workflows WHERE id = :id
