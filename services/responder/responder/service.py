"""The responder's business functions for settings and prompts. They flush; the caller
commits."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.auth import Principal
from common.errors import AppError
from common.pagination import Page, PageQuery, trim_page
from common.ratelimit import too_many
from responder import prompts, repository, spending
from responder.answer import Answerer, TurnInput
from responder.handoff import DEFAULT_HANDOFF_KEYWORDS
from responder.models import AISettings, PromptTemplate, TenantName
from responder.schemas import (
    AISettingsIn,
    AISettingsOut,
    PreviewIn,
    PreviewOut,
    PromptIn,
    PromptOut,
    PromptUpdate,
    SourceOut,
)
from responder.settings import ResponderSettings

DEFAULT_BUSINESS_NAME = "our business"  # before tenant.created.v1 named it
DEFAULT_FALLBACK = "Thanks for your message! A member of our team will get back to you shortly."


def default_settings(tenant_id: uuid.UUID) -> AISettings:
    return AISettings(
        tenant_id=tenant_id,
        enabled=True,
        model=None,
        persona="",
        instructions="",
        temperature=0.3,
        max_output_tokens=500,
        history_messages=10,
        handoff_keywords=list(DEFAULT_HANDOFF_KEYWORDS),
        fallback_message=DEFAULT_FALLBACK,
        media_without_text="reply",
        prompt_template_id=None,
    )


async def effective_settings(session: AsyncSession, tenant_id: uuid.UUID) -> AISettings:
    """The tenant's settings; a new business has the defaults (AI on, default template)."""
    return await repository.settings(session, tenant_id) or default_settings(tenant_id)


def settings_out(row: AISettings, settings: ResponderSettings) -> AISettingsOut:
    return AISettingsOut(
        enabled=row.enabled,
        model=spending.effective_model(settings, row.model),  # the one its answers use
        persona=row.persona,
        instructions=row.instructions,
        temperature=row.temperature,
        max_output_tokens=row.max_output_tokens,
        history_messages=row.history_messages,
        handoff_keywords=list(row.handoff_keywords),
        fallback_message=row.fallback_message,
        prompt_template_id=row.prompt_template_id,
        media_without_text=row.media_without_text,
    )


async def update_settings(
    session: AsyncSession, principal: Principal, body: AISettingsIn, settings: ResponderSettings
) -> AISettingsOut:
    row = await repository.settings(session, principal.tenant_id)
    if row is None:
        row = default_settings(principal.tenant_id)
        session.add(row)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("model") is not None:
        spending.check_model(settings, changes["model"])
    if changes.get("prompt_template_id") is not None:
        found = await repository.template(
            session, principal.tenant_id, changes["prompt_template_id"]
        )
        if found is None:
            raise AppError(422, "prompt_template_id: no such prompt template")
    for field, value in changes.items():
        if value is None and field != "prompt_template_id":
            raise AppError(422, f"{field}: may not be null")
    if "handoff_keywords" in changes:  # keep the order, drop repeats
        changes["handoff_keywords"] = list(dict.fromkeys(changes["handoff_keywords"]))
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    return settings_out(row, settings)


def _prompt_out(row: PromptTemplate) -> PromptOut:
    return PromptOut(
        id=row.id,
        name=row.name,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _get_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> PromptTemplate:
    row = await repository.template(session, principal.tenant_id, template_id)
    if row is None:
        raise AppError(404, "prompt template not found")
    return row


async def list_prompts(
    session: AsyncSession, principal: Principal, page: PageQuery
) -> Page[PromptOut]:
    found = await repository.templates_page(session, principal.tenant_id, page)
    rows, cursor = trim_page(found, page.limit, lambda t: (t.created_at.isoformat(), t.id))
    return Page(items=[_prompt_out(r) for r in rows], next_cursor=cursor)


async def get_prompt(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> PromptOut:
    return _prompt_out(await _get_template(session, principal, template_id))


async def create_prompt(session: AsyncSession, principal: Principal, body: PromptIn) -> PromptOut:
    await prompts.validate(body.body)
    if await repository.template_by_name(session, principal.tenant_id, body.name):
        raise AppError(409, "a prompt template with this name exists")
    row = PromptTemplate(tenant_id=principal.tenant_id, name=body.name, body=body.body)
    session.add(row)
    await _flush_unique(session)
    await session.refresh(row)
    return _prompt_out(row)


async def update_prompt(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, body: PromptUpdate
) -> PromptOut:
    row = await _get_template(session, principal, template_id)
    if body.body is not None:
        await prompts.validate(body.body)
        row.body = body.body
    if body.name is not None and body.name != row.name:
        if await repository.template_by_name(session, principal.tenant_id, body.name):
            raise AppError(409, "a prompt template with this name exists")
        row.name = body.name
    await _flush_unique(session)
    await session.refresh(row)
    return _prompt_out(row)


async def delete_prompt(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> None:
    row = await _get_template(session, principal, template_id)
    settings = await repository.settings(session, principal.tenant_id)
    if settings is not None and settings.prompt_template_id == row.id:
        raise AppError(409, "this template is in use by the AI settings; choose another first")
    await session.delete(row)
    await session.flush()


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # the same name created concurrently
        raise AppError(409, "a prompt template with this name exists") from exc


async def template_for(session: AsyncSession, tenant_id: uuid.UUID, ai: AISettings) -> str:
    """The tenant's chosen template, or the default one."""
    if ai.prompt_template_id is not None:
        row = await repository.template(session, tenant_id, ai.prompt_template_id)
        if row is not None:
            return row.body
    return prompts.DEFAULT_TEMPLATE


async def business_name(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    row = await session.get(TenantName, tenant_id)
    return row.name if row else DEFAULT_BUSINESS_NAME


async def preview(
    session: AsyncSession, principal: Principal, answerer: Answerer, body: PreviewIn
) -> PreviewOut:
    """What the AI would answer now (the AI switch aside), with what it used. Nothing is
    sent or logged, but the LLM's cost counts in the month's spend. Conversation history is
    not included: the responder keeps none. A spent budget is a 429."""
    refused = await spending.budget_exhausted(session, answerer.settings, principal.tenant_id)
    if refused is not None and answerer.chat is not None:
        raise too_many(spending.seconds_to_next_month(), f"{refused}; it renews on the 1st (UTC)")
    ai = await effective_settings(session, principal.tenant_id)
    outcome = await answerer.answer(
        ai,
        await template_for(session, principal.tenant_id, ai),
        TurnInput(
            tenant_id=principal.tenant_id,
            business_name=await business_name(session, principal.tenant_id),
            customer_name="Preview",
            unanswered=[body.message],
            history=[],
        ),
    )
    await spending.add_spend(session, principal.tenant_id, outcome.cost_usd)
    return PreviewOut(
        reply=outcome.text,
        handoff=outcome.handoff_reason is not None,
        handoff_reason=outcome.handoff_reason,
        sources=[
            SourceOut(
                chunk_id=str(f.chunk_id) if f.chunk_id else None,
                document_id=str(f.document_id) if f.document_id else None,
                filename=f.filename,
                page=f.page,
                section=f.section,
                text=f.text,
                score=f.score,
            )
            for f in outcome.sources
        ],
        prompt=outcome.prompt,
        model=outcome.model,
        tokens_in=outcome.tokens_in,
        tokens_out=outcome.tokens_out,
        latency_ms=outcome.latency_ms,
        cost_usd=outcome.cost_usd,
    )
