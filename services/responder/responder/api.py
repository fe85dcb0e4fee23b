"""The responder's routes: thin — parse, authorise, call the service, return."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from common.auth import CurrentPrincipal, Principal, require_role
from common.db import SessionDep
from common.openapi import errors
from common.pagination import Page, PageParams
from responder import analytics, business_hours, csat, service
from responder.prompts import VARIABLES
from responder.schemas import (
    AISettingsIn,
    AISettingsOut,
    BusinessHoursIn,
    BusinessHoursOut,
    CSATSettingsIn,
    CSATSettingsOut,
    ModelsOut,
    PreviewIn,
    PreviewOut,
    PromptIn,
    PromptOut,
    PromptUpdate,
)
from responder.settings import ResponderSettings
from responder.spending import TenantLimits, offered_models

settings_router = APIRouter(prefix="/api/ai", tags=["ai"])
prompts_router = APIRouter(prefix="/api/prompts", tags=["prompts"])
analytics_router = APIRouter(prefix="/api/analytics", tags=["analytics"])
hours_router = APIRouter(prefix="/api/business-hours", tags=["business hours"])
csat_router = APIRouter(prefix="/api/csat", tags=["csat"])

Manager = Annotated[Principal, require_role("owner", "admin")]


def _settings(request: Request) -> ResponderSettings:
    settings: ResponderSettings = request.app.state.settings
    return settings


@settings_router.get("/settings", response_model=AISettingsOut)
async def get_settings(
    principal: CurrentPrincipal, request: Request, session: SessionDep
) -> AISettingsOut:
    """The AI settings of the caller's business (a new business: the defaults, AI on)."""
    row = await service.effective_settings(session, principal.tenant_id)
    return service.settings_out(row, _settings(request))


@settings_router.put("/settings", response_model=AISettingsOut)
async def put_settings(
    body: AISettingsIn, principal: Manager, request: Request, session: SessionDep
) -> AISettingsOut:
    """Change any of the settings (owner/admin); fields left out keep their value."""
    return await service.update_settings(session, principal, body, _settings(request))


@settings_router.get("/models", response_model=ModelsOut)
async def list_models(principal: CurrentPrincipal, request: Request) -> ModelsOut:
    """The models a business may choose for its AI, with their prices (USD per million
    tokens), as the operator configured them."""
    return offered_models(_settings(request))


@settings_router.post(
    "/preview",
    response_model=PreviewOut,
    responses=errors({429: "too many previews this minute, or the month's AI budget is spent"}),
)
async def preview(
    body: PreviewIn, principal: CurrentPrincipal, request: Request, session: SessionDep
) -> PreviewOut:
    """What the AI would answer now, with the passages it used and the rendered prompt.

    Any team member may try it; per business it is limited per minute (429 with
    Retry-After) and, with an LLM, refused once the month's AI budget is spent (429)."""
    limits: TenantLimits = request.app.state.limits
    await limits.preview(principal.tenant_id)  # counted before the work it guards
    return await service.preview(session, principal, request.app.state.answerer, body)


@analytics_router.get("/summary", response_model=analytics.Summary)
async def analytics_summary(
    principal: CurrentPrincipal,
    session: SessionDep,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> analytics.Summary:
    """Figures over [from, to) (ISO dates or datetimes; default: the last 30 days)."""
    start, end = analytics.period(analytics.instant(since), analytics.instant(until))
    return await analytics.summary(session, principal.tenant_id, start, end)


@analytics_router.get("/daily", response_model=analytics.Daily)
async def analytics_daily(
    principal: CurrentPrincipal,
    session: SessionDep,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> analytics.Daily:
    """The same figures per UTC day, for charts."""
    start, end = analytics.period(analytics.instant(since), analytics.instant(until))
    return await analytics.daily(session, principal.tenant_id, start, end)


@analytics_router.get("/csat", response_model=analytics.CSATFigures)
async def analytics_csat(
    principal: CurrentPrincipal,
    session: SessionDep,
    since: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> analytics.CSATFigures:
    """CSAT over [from, to): responses, % rated Great, by agent, AI-resolved versus people."""
    start, end = analytics.period(analytics.instant(since), analytics.instant(until))
    return await analytics.csat(session, principal.tenant_id, start, end)


@hours_router.get("", response_model=BusinessHoursOut)
async def get_business_hours(principal: CurrentPrincipal, session: SessionDep) -> BusinessHoursOut:
    """The business's hours (never set: open all day every day, in UTC)."""
    return business_hours.hours_out(await business_hours.get_hours(session, principal.tenant_id))


@hours_router.put("", response_model=BusinessHoursOut)
async def put_business_hours(
    body: BusinessHoursIn, principal: Manager, session: SessionDep
) -> BusinessHoursOut:
    """Change any of them (owner/admin); `weekly`, when given, is the whole week. A bad time
    zone, day, time, overlap or date is a 422 naming it."""
    return await business_hours.update_hours(session, principal.tenant_id, body)


@csat_router.get("", response_model=CSATSettingsOut)
async def get_csat(principal: CurrentPrincipal, session: SessionDep) -> CSATSettingsOut:
    """Whether resolving a conversation asks the customer for a rating (default: off)."""
    return csat.csat_out(await csat.get_csat(session, principal.tenant_id))


@csat_router.put("", response_model=CSATSettingsOut)
async def put_csat(
    body: CSATSettingsIn, principal: Manager, session: SessionDep
) -> CSATSettingsOut:
    """Change any of them (owner/admin); `template_name` is the approved template sent when
    the 24-hour window is closed (null: then nothing is sent)."""
    return await csat.update_csat(session, principal.tenant_id, body)


@prompts_router.get("/variables")
async def template_variables() -> dict[str, str]:
    """The variables a prompt template may use, and what each holds."""
    return VARIABLES


@prompts_router.get("", response_model=Page[PromptOut])
async def list_prompts(
    principal: CurrentPrincipal, session: SessionDep, page: PageParams
) -> Page[PromptOut]:
    return await service.list_prompts(session, principal, page)


@prompts_router.post(
    "",
    status_code=201,
    response_model=PromptOut,
    responses=errors({409: "a template with this name exists"}),
)
async def create_prompt(body: PromptIn, principal: Manager, session: SessionDep) -> PromptOut:
    """Save a template; a syntax error or an unknown variable is a 422 naming its line."""
    return await service.create_prompt(session, principal, body)


@prompts_router.get("/{template_id}", response_model=PromptOut, responses=errors(404))
async def get_prompt(
    template_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> PromptOut:
    return await service.get_prompt(session, principal, template_id)


@prompts_router.put(
    "/{template_id}",
    response_model=PromptOut,
    responses=errors(404, {409: "a template with this name exists"}),
)
async def update_prompt(
    template_id: uuid.UUID, body: PromptUpdate, principal: Manager, session: SessionDep
) -> PromptOut:
    return await service.update_prompt(session, principal, template_id, body)


@prompts_router.delete(
    "/{template_id}",
    status_code=204,
    responses=errors(404, {409: "the AI settings use this template"}),
)
async def delete_prompt(
    template_id: uuid.UUID, principal: Manager, session: SessionDep
) -> Response:
    await service.delete_prompt(session, principal, template_id)
    return Response(status_code=204)
