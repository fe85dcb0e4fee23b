"""HTTP bodies of the responder (docs/api.md, responder)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from common.text import InputModel

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class AISettingsOut(BaseModel):
    enabled: bool
    model: str
    persona: str
    instructions: str
    temperature: float
    max_output_tokens: int
    history_messages: int
    handoff_keywords: list[str]
    fallback_message: str
    prompt_template_id: uuid.UUID | None
    media_without_text: Literal["reply", "handoff"]


class ModelOut(BaseModel):
    id: str
    # None: the operator's default model without a listed price (its cost shows as unknown).
    input_usd_per_million: float | None
    output_usd_per_million: float | None
    default: bool


class ModelsOut(BaseModel):
    items: list[ModelOut]


class AISettingsIn(InputModel):
    """Any subset of the settings; what is left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    model: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    persona: Annotated[str, Field(max_length=2000)] | None = None
    instructions: Annotated[str, Field(max_length=8000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_output_tokens: Annotated[int, Field(ge=16, le=4096)] | None = None
    history_messages: Annotated[int, Field(ge=0, le=50)] | None = None
    handoff_keywords: Annotated[list[Keyword], Field(max_length=100)] | None = None
    fallback_message: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
        | None
    ) = None
    prompt_template_id: uuid.UUID | None = None
    media_without_text: Literal["reply", "handoff"] | None = None


TemplateName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
TemplateBody = Annotated[str, Field(min_length=1, max_length=20_000)]


class PromptIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName
    body: TemplateBody


class PromptUpdate(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    body: TemplateBody | None = None


class PromptOut(BaseModel):
    id: uuid.UUID
    name: str
    body: str
    created_at: datetime
    updated_at: datetime


class PreviewIn(InputModel):
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
    conversation_id: uuid.UUID | None = None


class SourceOut(BaseModel):
    chunk_id: str | None = None
    document_id: str | None = None
    filename: str
    page: int | None = None
    section: str | None = None
    text: str
    score: float


class PreviewOut(BaseModel):
    reply: str
    handoff: bool
    handoff_reason: str | None
    sources: list[SourceOut]
    prompt: str
    model: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: int
    cost_usd: float | None = None  # None: no LLM call, or its price is unknown


# --- business hours and CSAT (docs/api.md, responder) ------------------------------------

Interval = Annotated[list[str], Field(min_length=2, max_length=2)]


class BusinessHoursIn(InputModel):
    """Any subset; what is left out keeps its value. `weekly`, when given, is the whole week:
    a day left out (or with no intervals) is closed all day."""

    model_config = ConfigDict(extra="forbid")

    timezone: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = None
    weekly: dict[str, Annotated[list[Interval], Field(max_length=12)]] | None = None
    holidays: Annotated[list[str], Field(max_length=400)] | None = None
    auto_reply: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1024)] | None = (
        None
    )
    outside_hours: Literal["answer", "handoff"] | None = None


class BusinessHoursOut(BaseModel):
    timezone: str
    weekly: dict[str, list[list[str]]]
    holidays: list[str]
    auto_reply: str | None
    outside_hours: Literal["answer", "handoff"]


# Meta's template names: lowercase letters, digits and underscores, at most 512 characters.
TemplateNameRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]


class CSATSettingsIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    question: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
        | None
    ) = None
    template_name: TemplateNameRef | None = None


class CSATSettingsOut(BaseModel):
    enabled: bool
    question: str
    template_name: str | None
