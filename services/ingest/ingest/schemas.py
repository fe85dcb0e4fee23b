"""HTTP bodies of ingest's API (docs/api.md)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from common.events import CSATRating
from common.text import InputModel


class ChannelCreate(InputModel):
    model_config = ConfigDict(extra="forbid")

    # Meta's ids; required with an access token, ignored without (a sandbox gets its own).
    phone_number_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$"
    )
    display_phone_number: str | None = Field(default=None, max_length=32)
    waba_id: str | None = Field(default=None, max_length=64, pattern=r"^[0-9A-Za-z._-]*$")
    # Sent to Meta in an Authorization header: printable ASCII only (Meta's tokens are), so
    # anything else is a 422 here, not a header that cannot be encoded (a 500).
    access_token: str | None = Field(
        default=None, min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$"
    )


class TemplateRef(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=1, max_length=16)


class ChannelOut(BaseModel):
    id: uuid.UUID
    phone_number_id: str
    display_phone_number: str | None
    mode: Literal["live", "sandbox"]
    needs_reauth: bool
    created_at: datetime
    # The approved template that reopens a closed window, and whether it goes out by itself
    # when the AI's answer comes too late (else the conversation is handed off).
    reengagement_template: TemplateRef | None = None
    auto_reengage: bool = False


class ChannelPatch(InputModel):
    model_config = ConfigDict(extra="forbid")

    reengagement_template: TemplateRef | None = None
    auto_reengage: bool | None = None


class TemplateOut(BaseModel):
    id: uuid.UUID
    name: str
    language: str
    status: str
    category: str | None
    components: list[dict[str, Any]]


class TemplateList(BaseModel):
    items: list[TemplateOut]


class ContactBrief(BaseModel):
    id: uuid.UUID
    wa_id: str
    name: str | None


class ConversationOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    contact: ContactBrief
    status: Literal["open", "handoff", "resolved"]
    ai_enabled: bool
    last_message_at: datetime | None
    last_message_preview: str | None
    unread_count: int
    # The 24-hour customer-service window runs from here (null: never written).
    last_inbound_at: datetime | None = None
    handoff_reason: str | None = None
    # When the window closes (null: closed or never open): free text only before it.
    window_closes_at: datetime | None = None
    # The team member working on it; null: unassigned.
    assignee_id: uuid.UUID | None = None
    labels: list["LabelBrief"] = []
    # The customer's rating after the last resolution: {score, label, responded_at}; null: none.
    csat: CSATRating | None = None
    # Starts at 1, one more with every change: a live update not newer than what a screen
    # shows is older news (updates may arrive out of order).
    version: int


class ConversationPatch(InputModel):
    model_config = ConfigDict(extra="forbid")

    ai_enabled: bool | None = None
    status: Literal["open", "handoff", "resolved"] | None = None
    # A team member's user id; null unassigns (absent: unchanged).
    assignee_id: uuid.UUID | None = None


class MessageOut(BaseModel):
    id: uuid.UUID
    wamid: str | None
    # `internal`: a private note of the team (type `note`), never sent to the customer.
    direction: Literal["inbound", "outbound", "internal"]
    author: Literal["customer", "ai", "agent"]
    # The team member who wrote a note.
    author_id: uuid.UUID | None = None
    type: str
    text: str | None
    media: dict[str, Any] | None
    # WhatsApp's context: `id` is the wamid of the message this one quotes or reacts to.
    context: dict[str, Any] | None = None
    # The customer's current reaction (emoji) to this message.
    reaction: str | None = None
    # For AI replies: the knowledge passages the answer was grounded on.
    sources: list[dict[str, Any]] = []
    status: str
    error: str | None
    created_at: datetime


class TemplateHeader(InputModel):
    model_config = ConfigDict(extra="forbid")

    # The media of an IMAGE/VIDEO/DOCUMENT header (an https link Meta fetches).
    link: str | None = Field(default=None, min_length=1, max_length=2048)
    filename: str | None = Field(default=None, max_length=240)
    # The parameters of a TEXT header with a placeholder.
    text: list[str] | dict[str, str] | None = None


class TemplateParameters(InputModel):
    model_config = ConfigDict(extra="forbid")

    # Positional (`{{1}}`, `{{2}}`…) as a list, or named (`{{first_name}}`) as an object.
    body: list[str] | dict[str, str] = []
    header: TemplateHeader | None = None


class TemplateSend(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=1, max_length=16)
    parameters: TemplateParameters = TemplateParameters()


class MessageCreate(InputModel):
    """Free text (inside the 24-hour window) or an approved template (any time)."""

    model_config = ConfigDict(extra="forbid")

    # WhatsApp's limit for a text body.
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateSend | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "MessageCreate":
        if (self.text is None) == (self.template is None):
            raise ValueError("give either `text` or `template`")
        return self


class ContactOut(BaseModel):
    id: uuid.UUID
    wa_id: str
    name: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    conversation_count: int
    # The team's notes and custom attributes (PATCH /api/contacts/{id}).
    notes: str | None = None
    attributes: dict[str, str] = {}


# Custom attributes: a short key (a CRM-ish field name) and a value of at most a line or two.
AttributeKey = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
AttributeValue = Annotated[str, StringConstraints(max_length=1024)]


class ContactPatch(InputModel):
    """Only what the team owns: the name stays WhatsApp's (each message refreshes it)."""

    model_config = ConfigDict(extra="forbid")

    # null clears them.
    notes: str | None = Field(default=None, max_length=8192)
    # Replaces every attribute (send them all); {} clears them.
    attributes: dict[AttributeKey, AttributeValue] | None = Field(default=None, max_length=50)


class SimulatedMessage(InputModel):
    """A customer's message, played on a sandbox channel."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1, max_length=32, pattern=r"^[0-9]+$")
    name: str | None = Field(default=None, max_length=256)
    text: str = Field(min_length=1, max_length=4096)


class SimulatedOut(BaseModel):
    wamid: str


# --- team inbox --------------------------------------------------------------------------------


class LabelBrief(BaseModel):
    id: uuid.UUID
    name: str
    color: str


class LabelCreate(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    # `#rrggbb`
    color: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$")

    @field_validator("name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a label needs a name")
        return value.strip()


class LabelOut(LabelBrief):
    # Conversations carrying it now (all statuses): the label's count for analytics.
    conversation_count: int
    created_at: datetime


class ConversationLabels(InputModel):
    model_config = ConfigDict(extra="forbid")

    label_ids: list[uuid.UUID] = Field(max_length=50)


class NoteCreate(InputModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4096)


class CannedReplyIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    # Typed as `/shortcut` in the composer.
    shortcut: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    # May use {{customer_name}} and {{agent_name}}, filled in by the composer.
    text: str = Field(min_length=1, max_length=4096)


class CannedReplyOut(BaseModel):
    id: uuid.UUID
    shortcut: str
    text: str
    created_at: datetime
    updated_at: datetime


class InboxSettingsIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    # A handed-off conversation goes to the least busy member online.
    round_robin: bool


class InboxSettingsOut(BaseModel):
    round_robin: bool


class ContactExport(BaseModel):
    contact: ContactOut
    conversations: list[ConversationOut]
    messages: list[MessageOut]


ConversationOut.model_rebuild()
