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
    version, lease_owner, lease_expires_at, frames
) VALUES (
    :id, :workflow_type, :workflow_version, :definition_digest, :status, :state, :current_step,
    :saga_mode, :idempotency_key, :parent_id, :owner_id, :metadata, :error, :created_at,
    :updated_at, :version, :lease_owner, :lease_expires_at, :frames
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
-- Pages: the id breaks ties of created_at, so pages neither repeat nor skip a row (both
-- databases walk the created_at index and sort only the ties: LIMIT stops the walk early).
SELECT w.*, d.snapshot AS definition
FROM ruvon_workflows w JOIN ruvon_definitions d ON d.digest = w.definition_digest
WHERE (CAST(:status AS TEXT) IS NULL OR w.status = :status)
  AND (CAST(:workflow_type AS TEXT) IS NULL OR w.workflow_type = :workflow_type)
ORDER BY w.created_at DESC, w.id DESC
LIMIT :limit OFFSET :offset

-- name: count_workflows
-- How many workflows each status has (the dashboard's filter counts): one pass over the
-- status index when no type is given.
SELECT status, count(*) AS n FROM ruvon_workflows
WHERE CAST(:workflow_type AS TEXT) IS NULL OR workflow_type = :workflow_type
GROUP BY status

-- name: update_workflow
-- A commit while no cancellation is requested (the common case); with a request pending it
-- matches no row and the commit goes on with update_workflow_cancel_requested, which reads the
-- request back. No RETURNING here: it costs SQLite an ephemeral table on every commit.
UPDATE ruvon_workflows
SET status = :status, state = :state, current_step = :current_step, frames = :frames,
    saga_mode = :saga_mode, error = :error, updated_at = :updated_at, version = version + 1,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at
WHERE id = :id AND version = :expected_version AND cancel_requested IS NULL
  -- every write goes through the lease: free, ours, or expired; a workflow created without
  -- saga mode and not started yet runs no step before its first commit, so it goes to
  -- whoever starts it first (a respawned program need not wait for its dead creator's lease)
  AND (lease_owner IS NULL OR lease_owner = :runner_id OR lease_expires_at < :updated_at
       OR (version = 0 AND NOT saga_mode))

-- name: update_workflow_keep_status
-- The same without ``status``: SQLite rewrites the status index entry of every row whose
-- UPDATE sets the column, even to the value it has, which is one more page per commit.
UPDATE ruvon_workflows
SET state = :state, current_step = :current_step, frames = :frames, saga_mode = :saga_mode,
    error = :error, updated_at = :updated_at, version = version + 1,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at
WHERE id = :id AND version = :expected_version AND cancel_requested IS NULL
  AND (lease_owner IS NULL OR lease_owner = :runner_id OR lease_expires_at < :updated_at
       OR (version = 0 AND NOT saga_mode))

-- name: update_workflow_cancel_requested
-- The commit when update_workflow matched no row: the same checks, whatever the request, and
-- the request read back (NULL if there is none: then the version or the lease was at fault
-- only if this matches no row either).
UPDATE ruvon_workflows
SET status = :status, state = :state, current_step = :current_step, frames = :frames,
    saga_mode = :saga_mode, error = :error, updated_at = :updated_at, version = version + 1,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at,
    -- a cancellation request lives until the runner leaves ACTIVE/PAUSED
    cancel_requested = CASE WHEN :status IN ('ACTIVE', 'PAUSED', 'WAITING_HUMAN')
        THEN cancel_requested END
WHERE id = :id AND version = :expected_version
  AND (lease_owner IS NULL OR lease_owner = :runner_id OR lease_expires_at < :updated_at
       OR (version = 0 AND NOT saga_mode))
RETURNING cancel_requested

-- name: request_cancel
-- No version change: the runner holding the lease reads it back with its next commit.
UPDATE ruvon_workflows SET cancel_requested = :reason
WHERE id = :id AND status NOT IN ('COMPLETED', 'FAILED_ROLLED_BACK', 'CANCELLED')

-- name: select_version
SELECT version, lease_owner FROM ruvon_workflows WHERE id = :id

-- name: claim_workflow
UPDATE ruvon_workflows
SET lease_owner = :owner, lease_expires_at = :expires_at, version = version + 1
WHERE id = :id AND version = :expected_version
  AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires_at < :now
       OR (version = 0 AND NOT saga_mode))

-- name: renew_lease
UPDATE ruvon_workflows SET lease_expires_at = :expires_at
WHERE id = :id AND lease_owner = :owner

-- name: find_recoverable
-- ACTIVE, COMPENSATING, PENDING_SUB_WORKFLOW: a runner holds the lease while it works in these
-- (RECOVERABLE in ruvon.providers.persistence). A workflow at version 0 was created but never started: unless saga mode is already on, its
-- program may still turn it on, so recovery must not run it yet.
SELECT id FROM ruvon_workflows
WHERE status IN ('ACTIVE', 'COMPENSATING', 'PENDING_SUB_WORKFLOW') AND lease_owner IS NOT NULL
  AND lease_expires_at < :now AND (version > 0 OR saga_mode)
ORDER BY lease_expires_at
LIMIT :limit

-- name: claim_for_recovery
-- The status and the expiry are checked in the UPDATE itself: a workflow its runner finished
-- (or another recoverer claimed) between find_recoverable and this claim is not taken.
UPDATE ruvon_workflows
SET lease_owner = :owner, lease_expires_at = :expires_at, version = version + 1
WHERE id = :id AND status IN ('ACTIVE', 'COMPENSATING', 'PENDING_SUB_WORKFLOW') AND lease_owner IS NOT NULL
  AND lease_expires_at < :now

-- name: claim_recovery_failed
UPDATE ruvon_workflows
SET lease_owner = :owner, lease_expires_at = :expires_at, version = version + 1
WHERE id = :id AND status IN ('ACTIVE', 'COMPENSATING', 'PENDING_SUB_WORKFLOW') AND lease_owner = :marker

-- name: mark_recovery_failed
-- A lease without an expiry never expires: find_recoverable skips the row from now on.
UPDATE ruvon_workflows
SET lease_owner = :marker, lease_expires_at = NULL, version = version + 1
WHERE id = :id AND lease_owner = :owner AND status IN ('ACTIVE', 'COMPENSATING', 'PENDING_SUB_WORKFLOW')

-- name: find_recovery_failed
SELECT id FROM ruvon_workflows
WHERE status IN ('ACTIVE', 'COMPENSATING', 'PENDING_SUB_WORKFLOW') AND lease_owner = :marker
ORDER BY updated_at
LIMIT :limit

-- name: upsert_step_attempt
INSERT INTO ruvon_step_attempts (
    workflow_id, seq, scope, step_name, step_index, attempt, status, started_at, ended_at,
    duration_ms, result, error, item, state_after
) VALUES (
    :workflow_id, :seq, :scope, :step_name, :step_index, :attempt, :status, :started_at,
    :ended_at, :duration_ms, :result, :error, :item, :state_after
)
ON CONFLICT (workflow_id, seq) DO UPDATE SET
    status = excluded.status, ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
    result = excluded.result, error = excluded.error, item = excluded.item,
    state_after = excluded.state_after

-- name: select_step_attempts
-- Not the states after each attempt: loading a workflow does not need them (select_step_states)
SELECT workflow_id, seq, scope, step_name, step_index, attempt, status, started_at, ended_at,
       duration_ms, result, error, item
FROM ruvon_step_attempts WHERE workflow_id = :workflow_id ORDER BY seq

-- name: select_step_states
SELECT seq, state_after FROM ruvon_step_attempts
WHERE workflow_id = :workflow_id AND state_after IS NOT NULL ORDER BY seq

-- name: upsert_compensation
INSERT INTO ruvon_compensations (
    workflow_id, sequence, forward_seq, scope, step_name, step_index, function, status,
    started_at, ended_at, duration_ms, attempts, error, detail, decided_by, result
) VALUES (
    :workflow_id, :sequence, :forward_seq, :scope, :step_name, :step_index, :function, :status,
    :started_at, :ended_at, :duration_ms, :attempts, :error, :detail, :decided_by, :result
)
ON CONFLICT (workflow_id, sequence) DO UPDATE SET
    -- started_at too: a compensation run again after an interruption starts anew
    status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at,
    duration_ms = excluded.duration_ms,
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

-- name: upsert_schedule
-- Registering a schedule again keeps its next tick (neither skipped nor repeated) unless its
-- cron expression changed or it was disabled: then the tick the caller computed from now.
INSERT INTO ruvon_schedules (
    name, workflow_type, workflow_version, cron_expression, initial_data, enabled,
    next_due_at, last_tick_at, created_at, updated_at
) VALUES (
    :name, :workflow_type, :workflow_version, :cron_expression, :initial_data, :enabled,
    :next_due_at, NULL, :now, :now
)
ON CONFLICT (name) DO UPDATE SET
    workflow_type = excluded.workflow_type, workflow_version = excluded.workflow_version,
    initial_data = excluded.initial_data, enabled = excluded.enabled,
    cron_expression = excluded.cron_expression, updated_at = excluded.updated_at,
    next_due_at = CASE
        WHEN ruvon_schedules.enabled
             AND ruvon_schedules.cron_expression = excluded.cron_expression
        THEN ruvon_schedules.next_due_at ELSE excluded.next_due_at END

-- name: list_schedules
SELECT * FROM ruvon_schedules ORDER BY name

-- name: claim_schedule_tick
-- The compare-and-set two schedulers race on: one UPDATE, atomic on its own; the loser
-- matches no row.
UPDATE ruvon_schedules
SET next_due_at = :next_due_at, last_tick_at = :tick_at, updated_at = :now
WHERE name = :name AND enabled AND next_due_at = :expected_due_at

-- Postgres only: one round trip per transition. Each statement is atomic on its own, and every
-- insert selects FROM moved, so nothing is written when the version check fails. (SQLite, which
-- has no data-modifying CTEs, runs the statements above in one local transaction instead.)

-- name: pg_create_workflow
WITH created AS (
    INSERT INTO ruvon_workflows (
        id, workflow_type, workflow_version, definition_digest, status, state, current_step,
        saga_mode, idempotency_key, parent_id, owner_id, metadata, error, created_at,
        updated_at, version, lease_owner, lease_expires_at, frames
    ) VALUES (
        :id, :workflow_type, :workflow_version, :definition_digest, :status, :state,
        :current_step, :saga_mode, :idempotency_key, :parent_id, :owner_id, :metadata, :error,
        :created_at, :updated_at, :version, :lease_owner, :lease_expires_at, :frames
    )
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), audit AS (
    INSERT INTO ruvon_audit (workflow_id, at, from_status, to_status, reason)
    SELECT id, :created_at, NULL, :status, 'created' FROM created
)
SELECT count(*) AS changed FROM created

-- Postgres only: the parts of one transition's statement, ``WITH moved AS (...), steps AS
-- (...), ...``. The store joins ``pg_transition_moved`` with only the parts the transition
-- has rows for (an empty part still opens its table and indexes) and selects
-- ``count(*) AS changed FROM moved``.

-- name: pg_transition_moved
UPDATE ruvon_workflows
SET status = :status, state = :state, current_step = :current_step, frames = :frames,
    saga_mode = :saga_mode, error = :error, updated_at = :updated_at, version = version + 1,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at,
    -- a cancellation request lives until the runner leaves ACTIVE/PAUSED
    cancel_requested = CASE WHEN :status IN ('ACTIVE', 'PAUSED', 'WAITING_HUMAN')
        THEN cancel_requested END
WHERE id = :id AND version = :expected_version
  -- every write goes through the lease: free, ours, or expired; a workflow created without
  -- saga mode and not started yet runs no step before its first commit, so it goes to
  -- whoever starts it first (a respawned program need not wait for its dead creator's lease)
  AND (lease_owner IS NULL OR lease_owner = :runner_id OR lease_expires_at < :updated_at
       OR (version = 0 AND NOT saga_mode))
RETURNING id, cancel_requested

-- name: pg_transition_steps
-- state_after comes as the state's JSON text (a JSON string in the payload), cast here
INSERT INTO ruvon_step_attempts (
    workflow_id, seq, scope, step_name, step_index, attempt, status, started_at, ended_at,
    duration_ms, result, error, item, state_after
)
SELECT moved.id, s.seq, s.scope, s.step_name, s.step_index, s.attempt, s.status,
       s.started_at, s.ended_at, s.duration_ms, s.result, s.error, s.item,
       CAST(s.state_after AS JSONB)
FROM moved, jsonb_to_recordset(CAST(:steps AS JSONB)) AS s(
    seq INTEGER, scope TEXT, step_name TEXT, step_index INTEGER, attempt INTEGER, status TEXT,
    started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION, duration_ms DOUBLE PRECISION,
    result JSONB, error JSONB, item JSONB, state_after TEXT
)
ON CONFLICT (workflow_id, seq) DO UPDATE SET
    status = excluded.status, ended_at = excluded.ended_at,
    duration_ms = excluded.duration_ms, result = excluded.result, error = excluded.error,
    item = excluded.item, state_after = excluded.state_after

-- name: pg_transition_compensations
INSERT INTO ruvon_compensations (
    workflow_id, sequence, forward_seq, scope, step_name, step_index, function, status,
    started_at, ended_at, duration_ms, attempts, error, detail, decided_by, result
)
SELECT moved.id, c.sequence, c.forward_seq, c.scope, c.step_name, c.step_index, c.function,
       c.status, c.started_at, c.ended_at, c.duration_ms, c.attempts, c.error, c.detail,
       c.decided_by, c.result
FROM moved, jsonb_to_recordset(CAST(:compensations AS JSONB)) AS c(
    sequence INTEGER, forward_seq INTEGER, scope TEXT, step_name TEXT, step_index INTEGER,
    function TEXT, status TEXT, started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION,
    duration_ms DOUBLE PRECISION, attempts INTEGER, error JSONB, detail TEXT,
    decided_by TEXT, result JSONB
)
ON CONFLICT (workflow_id, sequence) DO UPDATE SET
    status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at,
    duration_ms = excluded.duration_ms, attempts = excluded.attempts,
    error = excluded.error, detail = excluded.detail, decided_by = excluded.decided_by,
    result = excluded.result

-- name: pg_transition_audit
INSERT INTO ruvon_audit (workflow_id, at, from_status, to_status, reason)
SELECT moved.id, :updated_at, CAST(:from_status AS TEXT), :status, :reason FROM moved

-- name: pg_transition_metrics
INSERT INTO ruvon_metrics (workflow_id, at, name, value)
SELECT moved.id, :updated_at, m.name, m.value
FROM moved, jsonb_to_recordset(CAST(:metrics AS JSONB)) AS m(name TEXT, value DOUBLE PRECISION)
