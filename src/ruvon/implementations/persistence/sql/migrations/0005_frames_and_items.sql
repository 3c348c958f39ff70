-- Version 5: the rest of the cursor and the item a nested attempt ran for. ``frames`` is the
-- stack of positions inside nested step types (loop iterations, parallel tasks), written with
-- the state by every commit; NULL on rows written before this version, read as no frames.
-- ``item`` is the loop item or fan-out task a step attempt ran for (its compensation needs it).
ALTER TABLE ruvon_workflows ADD COLUMN frames {json};

ALTER TABLE ruvon_step_attempts ADD COLUMN item {json};

UPDATE ruvon_schema SET version = 5;
