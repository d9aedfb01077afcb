"""The meeting's messages on the room's WebSocket, beside the media messages.

Messages from a participant's page (over the room's WebSocket, beside the media messages)::

    {"type": "hand", "raised": true}                    ask to speak, or withdraw
    {"type": "chat", "text": "..."}
    {"type": "unmute"}                                  at a meeting (not a congress): oneself

and from a moderator's (the chair, or an administrator of the event's organisation)::

    {"type": "start"} / {"type": "end"}
    {"type": "admit", "participant": "m12"}             or null: everyone waiting
    {"type": "remove", "participant": "m12"}
    {"type": "floor", "participant": "m12"}             or null: take the floor back
    {"type": "mute", "participant": "m12"}              or null: everyone but the floor
    {"type": "spotlight", "participant": "m12"}         or null
    {"type": "agenda", "position": 2}
    {"type": "hide", "message": 7}                      a chat message, moderated away
    {"type": "motion", "title": "...", "anonymous": false}   put a motion to the vote
    {"type": "close"}                                   close the vote and count it
    {"type": "excuse", "participant": "m12", "reason": "外出务工", "excused": true}
                       leave an absent member out of 应到 by the meeting's consent (or undo it)

and from anyone present who may vote on the open motion::

    {"type": "ballot", "choice": "for" | "against" | "abstain"}

and from a sub-venue (分会场, a site's room with its own roll)::

    {"type": "roll", "present": [12, 15]}      the members in its room now (its roll call)
    {"type": "ballot", "choice": "for", "member": 12}   the vote of a member on its roll, as
                                                     shown in its room

Every change is followed by a ``{"type": "meeting", ...}`` message to everyone with the state as
``Meeting.state_for`` makes it; a refused message gets ``{"type": "error", "code": "refused"}``.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from streaming.congress.rules import Choice

Key = str | None
"""A participant's key (m12), or None where the message means everyone or no one."""


class Hand(BaseModel):
    type: Literal["hand"]
    raised: bool


class Chat(BaseModel):
    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=500)


class Unmute(BaseModel):
    type: Literal["unmute"]


class Start(BaseModel):
    type: Literal["start"]


class End(BaseModel):
    type: Literal["end"]


class Admit(BaseModel):
    type: Literal["admit"]
    participant: Key = None


class Remove(BaseModel):
    type: Literal["remove"]
    participant: str


class Floor(BaseModel):
    type: Literal["floor"]
    participant: Key = None


class Mute(BaseModel):
    type: Literal["mute"]
    participant: Key = None


class Spotlight(BaseModel):
    type: Literal["spotlight"]
    participant: Key = None


class Agenda(BaseModel):
    type: Literal["agenda"]
    position: int = Field(ge=1)


class Hide(BaseModel):
    type: Literal["hide"]
    message: int = Field(ge=1)


class PutMotion(BaseModel):
    type: Literal["motion"]
    title: str = Field(min_length=1, max_length=200)
    anonymous: bool = False


class Ballot(BaseModel):
    type: Literal["ballot"]
    choice: Choice
    member: int | None = None


class Roll(BaseModel):
    type: Literal["roll"]
    present: list[int] = Field(max_length=2000)


class CloseVote(BaseModel):
    type: Literal["close"]


class Excuse(BaseModel):
    type: Literal["excuse"]
    participant: str
    reason: str = Field(default="", max_length=200)
    excused: bool = True


Message = Annotated[
    Hand
    | Chat
    | Unmute
    | Start
    | End
    | Admit
    | Remove
    | Floor
    | Mute
    | Spotlight
    | Agenda
    | Hide
    | PutMotion
    | Ballot
    | CloseVote
    | Excuse
    | Roll,
    Field(discriminator="type"),
]
MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)
TYPES = frozenset(MESSAGE.json_schema()["discriminator"]["mapping"])
MODERATED = frozenset(
    {"start", "end", "admit", "remove", "floor", "mute", "spotlight", "agenda", "hide", "motion",
     "close", "excuse"}
)  # fmt: skip
