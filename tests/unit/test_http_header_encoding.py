"""A header value HTTP can not carry (not ASCII) fails the step naming it as such, not with a
bare codec error (found by trying to break the HTTP step as a user)."""

from __future__ import annotations

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.status import WorkflowStatus as S


async def test_a_non_ascii_header_value_fails_the_step_clearly() -> None:
    b = WorkflowBuilder(
        workflow_registry={
            "H": {
                "workflow_type": "H",
                "initial_state_model": "flow_steps.Flow",
                "steps": [
                    {
                        "name": "Call",
                        "type": "HTTP",
                        "output_key": "note",
                        "http_config": {
                            "method": "GET",
                            "url": "http://127.0.0.1:9/x",
                            "headers": {"X-Name": "Zoë"},
                        },
                    }
                ],
            }
        },
        persistence_provider=InMemoryPersistenceProvider(),
    )
    wf = await b.create_workflow("H")
    await wf.run()
    assert wf.status is S.FAILED and wf.error is not None
    assert "HTTP step 'Call': GET http://127.0.0.1:9/x" in wf.error.message
    assert "header values are ASCII" in wf.error.message
