-- Version 7: the state after each completed step attempt, for the timeline an operator reads
-- (``ruvon show``, the dashboard). The workflow row keeps only the latest state; this keeps the
-- one each attempt left. NULL for attempts written before this version and for failed ones.
ALTER TABLE ruvon_step_attempts ADD COLUMN state_after {json};

UPDATE ruvon_schema SET version = 7;
