"""Channels a notice travels through, each a small class behind one interface.

`InAppChannel` is always on: the stored notice is the message, read on the notices page.
`EmailChannel` sends over SMTP with smtplib, `SmsChannel` posts to an SMS gateway; both are off
unless configured (core/settings.py), and both run only inside delivery jobs, never in a request.

The SMS gateway protocol (one JSON POST per message, to `YUANJIAO_SMS_URL`):

    POST <sms_url>
    Authorization: Bearer <sms_token>
    Content-Type: application/json
    Idempotency-Key: yuanjiao-delivery-<delivery id>

    {"to": "13800138000", "text": "<title>\\n<body>\\n<link>", "category": "...",
     "reference": "yuanjiao-delivery-<delivery id>"}

Any 2xx is delivered. 408, 429 and 5xx are tried again later; any other status is a refusal.
A retry sends the same reference, so a gateway that remembers references sends a message once.
Most Chinese SMS providers sit behind a small adapter of this shape (templates and signatures
are the provider's business), which keeps provider SDKs out of the platform.
"""

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import ClassVar

from core.errors import ConfigurationError
from core.i18n import N_
from core.notify.errors import DeliveryDeferred, DeliveryRefused
from core.settings import Settings, get_settings

# An SMS longer than this is cut (a long SMS is sent in parts and billed per part).
SMS_MAX_CHARS = 300


@dataclass(frozen=True)
class Contact:
    """Where a recipient can be reached: the account's e-mail, the member record's phone."""

    email: str
    phone: str


@dataclass(frozen=True)
class Message:
    """What a channel sends: the notice's text, its link as a full URL, and a reference that
    stays the same across retries of one delivery."""

    category: str
    title: str
    body: str
    url: str
    reference: str

    def as_text(self) -> str:
        """The message as plain text: title, body, link."""
        return "\n\n".join(part for part in (self.title, self.body, self.url) if part)


class Channel(ABC):
    """One way of carrying a notice to its recipient."""

    name: ClassVar[str]

    @abstractmethod
    def address(self, contact: Contact) -> str:
        """The recipient's address on this channel; empty when they have none."""

    @abstractmethod
    def send(self, *, address: str, message: Message, timeout: float) -> None:
        """Carry the message; DeliveryDeferred to be tried again, DeliveryRefused if never."""


class InAppChannel(Channel):
    """The notice row itself: nothing to send, always delivered."""

    name = "in_app"

    def address(self, contact: Contact) -> str:
        """Every account has an inbox."""
        return "in_app"

    def send(self, *, address: str, message: Message, timeout: float) -> None:
        """Nothing to do: the stored notice is what the recipient reads."""


class EmailChannel(Channel):
    """E-mail through an SMTP server (STARTTLS, implicit TLS or plain; login if configured)."""

    name = "email"

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host or not settings.smtp_from:
            raise ConfigurationError(
                N_("YUANJIAO_EMAIL_ENABLED needs YUANJIAO_SMTP_HOST and YUANJIAO_SMTP_FROM.")
            )
        self.settings = settings

    def address(self, contact: Contact) -> str:
        """The account's e-mail address."""
        return contact.email

    def send(self, *, address: str, message: Message, timeout: float) -> None:
        """One message over one SMTP connection; 4xx and connection trouble are deferred."""
        settings = self.settings
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = settings.smtp_from
        mail["To"] = address
        mail["Message-ID"] = make_msgid(idstring=message.reference)
        mail.set_content(message.as_text())
        try:
            with self._connect(timeout) as smtp:
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _smtp_error(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryDeferred(
                N_("The mail server could not be reached: %(reason)s"), reason=str(exc)
            ) from exc

    def _connect(self, timeout: float) -> smtplib.SMTP:
        settings = self.settings
        if settings.smtp_tls == "ssl":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
            )
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        if settings.smtp_tls == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


def _smtp_error(code: int, reply: bytes | str) -> DeliveryDeferred | DeliveryRefused:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    if 400 <= code < 500:
        return DeliveryDeferred(
            N_("The mail server asked to try later: %(code)s %(reply)s"), code=code, reply=text
        )
    return DeliveryRefused(N_("The mail server refused: %(code)s %(reply)s"), code=code, reply=text)


class SmsChannel(Channel):
    """Text messages through an HTTP gateway (the protocol is in the module docstring)."""

    name = "sms"

    def __init__(self, settings: Settings) -> None:
        if not settings.sms_url.lower().startswith(("http://", "https://")):
            raise ConfigurationError(N_("YUANJIAO_SMS_ENABLED needs an http(s) YUANJIAO_SMS_URL."))
        self.settings = settings

    def address(self, contact: Contact) -> str:
        """The phone number on the member record."""
        return contact.phone

    def send(self, *, address: str, message: Message, timeout: float) -> None:
        """One POST; 2xx is delivered, 408/429/5xx and network trouble deferred, else refused."""
        body = {
            "to": address,
            "text": message.as_text()[:SMS_MAX_CHARS],
            "category": message.category,
            "reference": message.reference,
        }
        request = urllib.request.Request(
            self.settings.sms_url,
            data=json.dumps(body, ensure_ascii=False).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.settings.sms_token}",
                "Idempotency-Key": message.reference,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read(4096)
        except urllib.error.HTTPError as exc:
            reply = exc.read(500).decode(errors="replace")
            if exc.code in (408, 429) or exc.code >= 500:
                raise DeliveryDeferred(
                    N_("The SMS gateway asked to try later: %(code)s %(reply)s"),
                    code=exc.code,
                    reply=reply,
                ) from exc
            raise DeliveryRefused(
                N_("The SMS gateway refused: %(code)s %(reply)s"), code=exc.code, reply=reply
            ) from exc
        except OSError as exc:
            raise DeliveryDeferred(
                N_("The SMS gateway could not be reached: %(reason)s"), reason=str(exc)
            ) from exc


def external_channels(settings: Settings | None = None) -> list[Channel]:
    """The channels switched on besides in-app, in the order they are tried."""
    settings = settings or get_settings()
    channels: list[Channel] = []
    if settings.email_enabled:
        channels.append(EmailChannel(settings))
    if settings.sms_enabled:
        channels.append(SmsChannel(settings))
    return channels


def channel_named(name: str) -> Channel:
    """The configured channel called `name` (ConfigurationError once it is switched off)."""
    for channel in [InAppChannel(), *external_channels()]:
        if channel.name == name:
            return channel
    raise ConfigurationError(N_("The %(channel)s channel is switched off."), channel=name)
