-- Version 4: step attempts and compensation-journal entries carry the scope path they ran in
-- (a top-level step's path is its name, with '%' and '/' escaped), so nested scopes (parallel
-- tasks, loop iterations, child workflows) are recorded and compensated on their own.
ALTER TABLE ruvon_step_attempts ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE ruvon_step_attempts SET scope = replace(replace(step_name, '%', '%25'), '/', '%2F');
CREATE INDEX ruvon_step_attempts_scope ON ruvon_step_attempts (workflow_id, scope);

ALTER TABLE ruvon_compensations ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE ruvon_compensations SET scope = replace(replace(step_name, '%', '%25'), '/', '%2F');
CREATE INDEX ruvon_compensations_scope ON ruvon_compensations (workflow_id, scope);

UPDATE ruvon_schema SET version = 4;
