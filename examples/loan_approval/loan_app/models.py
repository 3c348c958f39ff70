from pydantic import BaseModel, Field


class Tranche(BaseModel):
    number: int
    amount: float


class LoanState(BaseModel):
    applicant: str
    amount: float = Field(gt=0)
    credit_score: int = 0
    tranches: list[Tranche] = []
    approved: bool | None = None
    reviewer: str | None = None
    transferred: list[int] = []
    lien_id: str | None = None
    notify_fails: bool = False  # the late failure the example injects
    outcome: str | None = None


class ReviewDecision(BaseModel):
    approved: bool
    reviewer: str = Field(min_length=1)
