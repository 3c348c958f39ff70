from pydantic import BaseModel

from ruvon.models import StepContext


class Setup(BaseModel):
    region: str
    schedule_name: str | None = None


class Report(BaseModel):
    region: str
    built: bool = False


class Cleanup(BaseModel):
    purged: int = 0


def build(state: Report, context: StepContext) -> dict:
    return {"built": True}


def purge(state: Cleanup, context: StepContext) -> dict:
    return {"purged": 1}

