-- Version 6: schedules, kept by name. ``ruvon scheduler`` starts ``workflow_type`` on each tick
-- of ``cron_expression``; it takes a tick by moving ``next_due_at`` (and ``last_tick_at``) in
-- one compare-and-set, so two schedulers never take the same tick. Times are POSIX seconds.
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

UPDATE ruvon_schema SET version = 6;
