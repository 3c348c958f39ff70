"""Expression evaluators: safe evaluation of step conditions over the workflow state."""
