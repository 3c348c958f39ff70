from pydantic import BaseModel

class ApprovalInput(BaseModel):
    approved: bool
    reviewer: str
    approval_notes: str = ""
