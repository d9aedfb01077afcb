"""Shapes of the notices API."""

from datetime import datetime

from pydantic import BaseModel

from core.notify.models import DeliveryStatus


class DeliveryRead(BaseModel):
    """How a notice went through one channel."""

    channel: str
    status: DeliveryStatus
    attempts: int
    error: str | None
    delivered_at: datetime | None


class NoticeRead(BaseModel):
    """A notice as its recipient sees it, with its deliveries."""

    id: int
    category: str
    title: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None
    deliveries: list[DeliveryRead]


class NoticePage(BaseModel):
    """One page of the recipient's notices, and how many are unread in all."""

    items: list[NoticeRead]
    total: int
    page: int
    per_page: int
    unread: int


class UnreadCount(BaseModel):
    """The bell's number."""

    unread: int


class MarkedRead(BaseModel):
    """How many notices were marked read."""

    marked: int


class DeliveryLogRead(BaseModel):
    """A delivery in the admins' log: the notice, its recipient and how it went."""

    id: int
    notice_id: int
    category: str
    title: str
    recipient_login: str
    recipient_name: str
    channel: str
    address: str
    status: DeliveryStatus
    attempts: int
    error: str | None
    created_at: datetime
    delivered_at: datetime | None
    retryable: bool


class DeliveryLogPage(BaseModel):
    """One page of the deliveries log, and how many deliveries stand at each status."""

    items: list[DeliveryLogRead]
    total: int
    page: int
    per_page: int
    counts: dict[DeliveryStatus, int]
