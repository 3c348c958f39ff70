-- Version 4: step attempts and compensation-journal entries carry the scope path they ran in
-- (a top-level step's path is its name, with '%' and '/' escaped), so nested scopes (parallel
-- tasks, loop iterations, child workflows) are recorded and compensated on their own. No index:
-- rows are read per workflow (the primary key), and an index would cost a page per commit.
ALTER TABLE ruvon_step_attempts ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE ruvon_step_attempts SET scope = replace(replace(step_name, '%', '%25'), '/', '%2F');

ALTER TABLE ruvon_compensations ADD COLUMN scope TEXT NOT NULL DEFAULT '';
UPDATE ruvon_compensations SET scope = replace(replace(step_name, '%', '%25'), '/', '%2F');

UPDATE ruvon_schema SET version = 4;
