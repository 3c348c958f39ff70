import asyncio

from ruvon import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutor
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.secrets.env import EnvironmentSecretsProvider
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine, TemplateLimits


class TracingEvaluator(SimpleExpressionEvaluator):
    """The default evaluator, telling what it decides."""

    def evaluate(self, expression, names):
        value = super().evaluate(expression, names)
        print(f"  condition {expression!r} on amount={names['amount']}: {value}")
        return value


class SmallTemplates(Jinja2TemplateEngine):
    """The default engine with tighter limits: the builder calls the class with no arguments."""

    def __init__(self) -> None:
        super().__init__(TemplateLimits(max_output_length=1000, max_render_seconds=0.5))


async def main() -> None:
    store = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(
        persistence_provider=store,
        expression_evaluator_cls=TracingEvaluator,
        template_engine_cls=SmallTemplates,
        secrets_provider=EnvironmentSecretsProvider(prefix="SHOP_SECRET_"),
    )
    for amount in (50, 500):
        wf = await builder.create_workflow("Route", {"order_id": "R-7", "amount": amount})
        print(await wf.run(), [r.step_name for r in wf.history if r.status == "COMPLETED"])
    child = await builder.load_workflow(wf.history[1].result["sub_workflow_id"])
    print("child", child.workflow_type, child.parent_id == wf.id, repr(child.state.note))
    print(type(wf.expression_evaluator).__name__, type(wf.template_engine).__name__)
    print(wf.expression_evaluator is child.expression_evaluator, wf.secrets_provider)
    print(type(wf.executor).__name__, type(wf.observer).__name__)
    plain = await WorkflowBuilder(persistence_provider=store).load_workflow(wf.id)
    print(type(plain.expression_evaluator).__name__, type(plain.template_engine).__name__)

    threads = ThreadPoolExecutor(max_workers=2)  # blocking steps run on threads
    wf = await builder.create_workflow(
        "Audit", {"order_id": "R-8", "amount": 1, "note": "checked"}, execution_provider=threads
    )
    await wf.run()
    print(wf.state.note, type(builder.execution_provider).__name__)
    await threads.close()


asyncio.run(main())
