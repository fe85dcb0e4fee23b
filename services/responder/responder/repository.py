"""Every query of the responder, each scoped to the caller's tenant."""

import uuid
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from responder.models import AISettings, PromptTemplate


def _templates(tenant_id: uuid.UUID) -> Select[PromptTemplate]:
    return select(PromptTemplate).where(PromptTemplate.tenant_id == tenant_id)


async def template(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.id == template_id))


async def template_by_name(
    session: AsyncSession, tenant_id: uuid.UUID, name: str
) -> PromptTemplate | None:
    return await session.scalar(_templates(tenant_id).where(PromptTemplate.name == name))


async def templates_page(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[PromptTemplate]:
    query = _templates(tenant_id)
    if after is not None:
        query = query.where(tuple_(PromptTemplate.created_at, PromptTemplate.id) > after)
    query = query.order_by(PromptTemplate.created_at, PromptTemplate.id).limit(limit + 1)
    return list((await session.scalars(query)).all())


async def settings(session: AsyncSession, tenant_id: uuid.UUID) -> AISettings | None:
    return await session.get(AISettings, tenant_id)
