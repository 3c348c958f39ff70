"""Template engines: sandboxed rendering of ``{{ state.x }}`` templates."""
