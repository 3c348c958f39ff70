-- Version 3: a cancellation asked for while another runner holds the lease; the runner reads it
-- back with its next commit and honours it.
ALTER TABLE ruvon_workflows ADD COLUMN cancel_requested TEXT;

UPDATE ruvon_schema SET version = 3;
