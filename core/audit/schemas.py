"""Shapes of the audit log's JSON API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditRead(BaseModel):
    """One audit entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_login: str
    action: str
    target_type: str
    target_id: str
    org_id: int | None
    address: str
    detail: dict[str, Any]
