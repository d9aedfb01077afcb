"""The delivery job: one per notice and external channel, retried with backoff by the job queue.

No database session is open while the channel talks to its server. Each failed attempt is
written on the delivery (attempts, error) before the job queue decides to try again; when the
attempts are used up, or the channel refuses for good, the delivery is marked failed.
"""

from sqlalchemy.orm import Session

from core.db import session_scope, utcnow
from core.jobs import Attempt, job_type
from core.jobs.models import Job
from core.notify.channels import Message, channel_named
from core.notify.models import Delivery, DeliveryStatus
from core.settings import get_settings

DELIVER_JOB = "notify.deliver"
_ERROR_MAX = 1000


def message_for(delivery: Delivery) -> Message:
    """What the channel sends for this delivery (the link made a full URL)."""
    notice = delivery.notice
    url = f"{get_settings().base_url}{notice.link}" if notice.link else ""
    return Message(
        category=notice.category,
        title=notice.title,
        body=notice.body,
        url=url,
        reference=f"yuanjiao-delivery-{delivery.id}",
    )


def _delivery_failed(session: Session, job: Job, reason: str) -> None:
    delivery = session.get(Delivery, job.payload["delivery_id"])
    if delivery is not None and delivery.status is DeliveryStatus.pending:
        delivery.status = DeliveryStatus.failed
        delivery.error = reason[:_ERROR_MAX]


def _record_failure(delivery_id: int, error: Exception) -> None:
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None:
            delivery.attempts += 1
            delivery.error = str(error)[:_ERROR_MAX] or type(error).__name__


@job_type(
    DELIVER_JOB,
    max_attempts=get_settings().notify_max_attempts,
    timeout=get_settings().notify_timeout_seconds * 2,
    on_failure=_delivery_failed,
)
def run_delivery(attempt: Attempt) -> None:
    """Send one delivery through its channel and mark it delivered."""
    delivery_id = int(attempt.payload["delivery_id"])
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status is not DeliveryStatus.pending:
            return  # removed with its notice, or done by an earlier attempt
        channel_name, address, message = delivery.channel, delivery.address, message_for(delivery)
    try:
        channel = channel_named(channel_name)
        channel.send(
            address=address, message=message, timeout=get_settings().notify_timeout_seconds
        )
    except Exception as exc:
        _record_failure(delivery_id, exc)
        raise
    with attempt.finish() as session:
        done = session.get(Delivery, delivery_id)
        if done is not None:
            done.status = DeliveryStatus.delivered
            done.attempts += 1
            done.error = None
            done.delivered_at = utcnow()
