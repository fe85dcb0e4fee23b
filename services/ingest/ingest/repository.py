"""Every query of ingest's tables, the service's one file of SQL: the request paths (the
API's reads), the hot paths, inbound (`inbound.py`), statuses (`statuses.py`), channels,
conversations, outbound, read receipts (`receipts.py`), inbound media (`media.py`), delivery
(`delivery.py`) and CSAT (`csat.py`), the batch consumers' claim of processed events
(`consumers.py`; a single event's claim is `common.idempotency.claim`), the team inbox
(`inbox.py`), templates (`templates.py`) and a contact's data (`erasure.py`).

Tenant scoping: a function that reads or writes tenant data takes the tenant id and filters
by it (reads start from a tenant-scoped statement: `channels`, `conversations`, `contacts`,
`messages`). The exceptions say so in their docstring: a routing lookup by Meta's
`phone_number_id` (globally unique: it decides the tenant), and rows keyed by ids that are
globally unique and were resolved within one tenant before (a message's, a conversation's,
a (channel, contact) pair's) or named by ingest's own jobs (the message id of a delivery or
a media job), or by auth's user id (a team member, their presence and read markers). Meta's
WhatsApp Business Account id routes as the number does (template status webhooks). A batch
across tenants carries each row's tenant id in its keys or values.
ORM unit-of-work calls (`session.get` by primary key, `session.delete` of a loaded row,
changed attributes flushed) stay with the modules that own the change.
"""

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Row,
    Select,
    Text,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer
from sqlalchemy.orm.attributes import set_attribute, set_committed_value

from common.db import Database
from common.pagination import PageQuery, keyset, trim_page
from ingest.models import (
    CannedReply,
    Channel,
    Contact,
    Conversation,
    ConversationLabel,
    ConversationRead,
    CSATRequest,
    DeliveryAttempt,
    InboxSettings,
    Label,
    MediaChunk,
    MediaFetchAttempt,
    MediaFile,
    Message,
    PendingStatus,
    TeamMember,
    TeamPresence,
    Template,
    processed_events,
)


def channels(tenant_id: uuid.UUID) -> Select[Channel]:
    return select(Channel).where(Channel.tenant_id == tenant_id, Channel.deleted_at.is_(None))


def conversations(tenant_id: uuid.UUID) -> Select[Conversation, Contact]:
    return (
        select(Conversation, Contact)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.tenant_id == tenant_id)
    )


def touch(conversation: Conversation, now: datetime | None = None) -> None:
    """Every change to a conversation goes through here: its `version` goes up by one in the
    same UPDATE, counted by Postgres (`version + 1`: two writers never hand out one number),
    and `updated_at` becomes now. Touching it again before the flush still counts one.
    A bulk UPDATE of conversations must set `version=Conversation.version + 1` likewise."""
    set_attribute(conversation, "version", Conversation.version + 1)
    conversation.updated_at = now or datetime.now(UTC)


def contacts(tenant_id: uuid.UUID) -> Select[Contact]:
    return select(Contact).where(Contact.tenant_id == tenant_id)


def messages(tenant_id: uuid.UUID) -> Select[Message]:
    return select(Message).where(Message.tenant_id == tenant_id)


async def get_channel(
    session: AsyncSession, tenant_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel | None:
    return await session.scalar(channels(tenant_id).where(Channel.id == channel_id))


async def channel_by_number(session: AsyncSession, phone_number_id: str) -> Channel | None:
    """Routing: the connected channel of a business number, whichever tenant owns it."""
    return await session.scalar(
        select(Channel).where(
            Channel.phone_number_id == phone_number_id, Channel.deleted_at.is_(None)
        )
    )


async def list_channels(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[Channel], str | None]:
    stmt = keyset(channels(tenant_id), page, Channel.created_at, Channel.id)
    rows = list(await session.scalars(stmt))
    return trim_page(rows, page.limit, lambda c: (c.created_at.isoformat(), c.id))


async def get_conversation(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, *, lock: bool = False
) -> tuple[Conversation, Contact] | None:
    stmt = conversations(tenant_id).where(Conversation.id == conversation_id)
    if lock:
        stmt = stmt.with_for_update(of=Conversation)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def list_conversations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageQuery,
    *,
    status: str | None,
    q: str | None,
    filters: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[tuple[Conversation, Contact]], str | None]:
    stmt = conversations(tenant_id).where(*filters)
    if status:
        stmt = stmt.where(Conversation.status == status)
    if q:
        pattern = f"%{_escape_like(q)}%"
        stmt = stmt.where(
            or_(
                Contact.name.ilike(pattern, escape="\\"),
                Contact.wa_id.ilike(pattern, escape="\\"),
                exists().where(
                    Message.tenant_id == tenant_id,
                    Message.conversation_id == Conversation.id,
                    Message.text.ilike(pattern, escape="\\"),
                ),
            )
        )
    stmt = keyset(stmt, page, Conversation.last_message_at, Conversation.id, descending=True)
    rows = [(r[0], r[1]) for r in (await session.execute(stmt)).all()]
    return trim_page(rows, page.limit, lambda r: (r[0].last_message_at.isoformat(), r[0].id))


async def list_messages(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_id: uuid.UUID, page: PageQuery
) -> tuple[list[Message], str | None]:
    stmt = messages(tenant_id).where(Message.conversation_id == conversation_id)
    rows = list(await session.scalars(keyset(stmt, page, Message.created_at, Message.id)))
    return trim_page(rows, page.limit, lambda m: (m.created_at.isoformat(), m.id))


async def recent_history(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    before: Message,
    limit: int,
) -> list[Message]:
    """The `limit` messages before `before`, oldest first."""
    if limit <= 0:
        return []
    stmt = (
        messages(tenant_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id != before.id,
            Message.created_at <= before.created_at,
            Message.direction != "internal",  # the team's notes are not the AI's history
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(await session.scalars(stmt))))


def _conversation_count() -> Any:
    return (
        select(func.count())
        .where(Conversation.contact_id == Contact.id)
        .correlate(Contact)
        .scalar_subquery()
    )


async def get_contact(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[Contact, int] | None:
    row = (
        await session.execute(
            select(Contact, _conversation_count()).where(
                Contact.tenant_id == tenant_id, Contact.id == contact_id
            )
        )
    ).first()
    return (row[0], int(row[1])) if row else None


async def list_contacts(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[tuple[Contact, int]], str | None]:
    stmt = select(Contact, _conversation_count()).where(Contact.tenant_id == tenant_id)
    stmt = keyset(stmt, page, Contact.last_seen_at, Contact.id, descending=True)
    rows = [(r[0], int(r[1])) for r in (await session.execute(stmt)).all()]
    return trim_page(rows, page.limit, lambda r: (r[0].last_seen_at.isoformat(), r[0].id))


async def get_media(
    session: AsyncSession, tenant_id: uuid.UUID, message_id: uuid.UUID
) -> MediaFile | None:
    return await session.scalar(
        select(MediaFile).where(
            MediaFile.tenant_id == tenant_id, MediaFile.message_id == message_id
        )
    )


async def media_chunks(
    db: Database, message_id: uuid.UUID, *, per_query: int = 4
) -> AsyncIterator[bytes]:
    """A media file's bytes in order, a few chunks per query, each query in its own short
    session: a slow reader holds neither the whole file nor a connection between reads."""
    seq = 0
    while True:
        async with db.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(MediaChunk.content)
                    .where(
                        MediaChunk.message_id == message_id,
                        MediaChunk.seq >= seq,
                        MediaChunk.seq < seq + per_query,
                    )
                    .order_by(MediaChunk.seq)
                )
            ).all()
        for content in rows:
            yield content
        if len(rows) < per_query:
            return
        seq += per_query


# --- Channels (channels.py) -------------------------------------------------------------


async def insert_channel(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    phone_number_id: str,
    display_phone_number: str | None,
    waba_id: str | None,
    access_token_encrypted: str | None,
    verified_at: datetime | None,
) -> uuid.UUID | None:
    """A new channel of the tenant; None when the number is connected already (to any
    tenant: a number routes to one business)."""
    return await session.scalar(
        insert(Channel)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            waba_id=waba_id,
            access_token_encrypted=access_token_encrypted,
            verified_at=verified_at,
        )
        .on_conflict_do_nothing(
            index_elements=["phone_number_id"], index_where=sql("deleted_at IS NULL")
        )
        .returning(Channel.id)
    )


# --- Inbound (inbound.py) -----------------------------------------------------------------

# The hot path never needs Meta's raw object back (it is the largest column): not loaded.
_WITHOUT_RAW = defer(Message.raw, raiseload=True)


async def channels_by_numbers(
    session: AsyncSession, phone_number_ids: Collection[str]
) -> list[Channel]:
    """Routing (the exception to tenant scoping, like `channel_by_number`): the connected
    channels of these business numbers, whichever tenants own them."""
    return list(
        await session.scalars(
            select(Channel).where(
                Channel.phone_number_id.in_(phone_number_ids), Channel.deleted_at.is_(None)
            )
        )
    )


def stored_wamids(keys: Sequence[tuple[uuid.UUID, str]]) -> Select[uuid.UUID, str | None]:
    """Which of these (tenant, wamid) are stored already. Tenant first, so the lookup is an
    index search on the unique (tenant_id, wamid) index, not a scan of every tenant's
    messages; the caller keeps only exact pairs."""
    return select(Message.tenant_id, Message.wamid).where(
        Message.tenant_id.in_(sorted({t for t, _ in keys})),
        Message.wamid.in_(sorted({w for _, w in keys})),
    )


async def existing_wamids(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str | None]]:
    """The (tenant, wamid) pairs of `stored_wamids` found (a superset of the exact pairs)."""
    return {(row.tenant_id, row.wamid) for row in await session.execute(stored_wamids(keys))}


async def upsert_contacts(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[tuple[uuid.UUID, str], Contact]:
    """Contacts by (tenant, wa_id), each row carrying its tenant id: inserted, or their
    profile and first/last seen merged in. The rows are locked in the order given: callers
    pass them in key order, so concurrent batches lock contacts in the same order. Then the
    rows themselves (by the ids just returned), fresh."""
    # executemany ("insertmanyvalues"): one cached statement whatever the batch size.
    table = Contact.__table__
    stmt = insert(table)
    excluded = stmt.excluded
    ids = list(
        (
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "wa_id"],
                    set_={
                        "name": func.coalesce(excluded.name, table.c.name),
                        "user_id": func.coalesce(excluded.user_id, table.c.user_id),
                        "username": func.coalesce(excluded.username, table.c.username),
                        "first_seen_at": func.least(table.c.first_seen_at, excluded.first_seen_at),
                        "last_seen_at": func.greatest(table.c.last_seen_at, excluded.last_seen_at),
                    },
                ).returning(table.c.id),
                rows,
            )
        ).scalars()
    )
    contacts = await session.scalars(
        select(Contact).where(Contact.id.in_(ids)).execution_options(populate_existing=True)
    )
    return {(c.tenant_id, c.wa_id): c for c in contacts}


async def lock_active_conversations(
    session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
    """The open or handed-off conversation of each (channel, contact), locked in id order.
    Keyed by the pair (the exception to tenant scoping: a channel's and a contact's ids are
    globally unique and the caller resolved both within their tenant)."""
    found = await session.scalars(
        select(Conversation)
        .where(
            tuple_(Conversation.channel_id, Conversation.contact_id).in_(pairs),
            Conversation.status != "resolved",
        )
        .order_by(Conversation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(c.channel_id, c.contact_id): c for c in found}


async def lock_conversations_of(
    session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> list[Conversation]:
    """Every conversation of each (channel, contact), locked in id order (keyed by the pair,
    as `lock_active_conversations`)."""
    return list(
        await session.scalars(
            select(Conversation)
            .where(tuple_(Conversation.channel_id, Conversation.contact_id).in_(pairs))
            .order_by(Conversation.id)
            .with_for_update()
        )
    )


async def insert_conversations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """New active conversations, each row carrying its tenant id; a (channel, contact) that
    has an active one already (a concurrent batch) keeps it: the partial unique index."""
    await session.execute(
        insert(Conversation.__table__).on_conflict_do_nothing(
            index_elements=["channel_id", "contact_id"],
            # Literal, as in the index: a bound parameter cannot prove the index applies
            # once Postgres switches the prepared statement to a generic plan.
            index_where=sql("status <> 'resolved'"),
        ),
        rows,
    )


# One UPDATE for a batch's conversations: their new activity as arrays, unnested.
_ACTIVITY = (
    func.unnest(
        bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
        bindparam("last_message_at", type_=ARRAY(DateTime(timezone=True))),
        bindparam("preview", type_=ARRAY(Text)),
        bindparam("unread", type_=ARRAY(Integer)),
        bindparam("last_inbound_at", type_=ARRAY(DateTime(timezone=True))),
    )
    .table_valued("id", "last_message_at", "preview", "unread", "last_inbound_at")
    .render_derived(name="activity")
)
_conversations = Conversation.__table__
_SET_ACTIVITY = (
    update(_conversations)
    .where(_conversations.c.id == _ACTIVITY.c.id)
    .values(
        last_message_at=_ACTIVITY.c.last_message_at,
        last_message_preview=_ACTIVITY.c.preview,
        unread_count=_ACTIVITY.c.unread,
        last_inbound_at=_ACTIVITY.c.last_inbound_at,
        # As `touch` does: counted by Postgres.
        version=_conversations.c.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(_conversations.c.id, _conversations.c.version)
)


async def set_conversation_activity(
    session: AsyncSession, conversations: Sequence[Conversation], now: datetime
) -> None:
    """Write what new messages changed on these locked conversations (their last message,
    preview, unread count and last inbound time, set on the objects) in one UPDATE instead of
    one per row, touched as `touch` does; the objects take the new version and are left clean
    (keyed by ids the caller locked within their tenant)."""
    if not conversations:
        return
    # Not flushed first: that would write the same changes one UPDATE per row.
    with session.no_autoflush:
        result = await session.execute(
            _SET_ACTIVITY,
            {
                "ids": [c.id for c in conversations],
                "last_message_at": [c.last_message_at for c in conversations],
                "preview": [c.last_message_preview for c in conversations],
                "unread": [c.unread_count for c in conversations],
                "last_inbound_at": [c.last_inbound_at for c in conversations],
                "now": now,
            },
        )
    versions = {id_: version for id_, version in result.tuples()}
    for c in conversations:
        # The values are in the row now: the object is as if loaded (nothing left to flush).
        for name in ("last_message_at", "last_message_preview", "unread_count", "last_inbound_at"):
            set_committed_value(c, name, getattr(c, name))
        set_committed_value(c, "updated_at", now)
        set_committed_value(c, "version", versions[c.id])


async def insert_inbound_messages(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """Inbound messages, each row carrying its tenant id, once per (tenant, wamid): the ids
    of those inserted (a concurrent twin's wamid is skipped)."""
    # executemany ("insertmanyvalues"): one compiled statement, whatever the batch size.
    table = Message.__table__
    return set(
        (
            await session.execute(
                insert(table)
                .on_conflict_do_nothing(index_elements=["tenant_id", "wamid"])
                .returning(table.c.id),
                rows,
            )
        ).scalars()
    )


async def messages_by_ids(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Message]:
    """Messages just inserted, by id (the exception to tenant scoping: the ids are this
    transaction's), without their raw object."""
    return {
        m.id: m
        for m in await session.scalars(
            select(Message).where(Message.id.in_(ids)).options(_WITHOUT_RAW)
        )
    }


async def recent_histories(
    session: AsyncSession, conversation_ids: Collection[uuid.UUID], depth: int
) -> list[Message]:
    """The `depth` latest messages of each conversation, oldest first, without their raw
    object (keyed by conversation ids the caller stored messages in, within their tenant)."""
    ranked = (
        select(
            Message,
            func.row_number()
            .over(
                partition_by=Message.conversation_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rank"),
        )
        # A private note is the team's, never part of what the AI reads.
        .where(Message.conversation_id.in_(conversation_ids), Message.direction != "internal")
        .subquery()
    )
    recent = aliased(Message, ranked)
    return list(
        await session.scalars(
            select(recent)
            .where(ranked.c.rank <= depth)
            .order_by(recent.created_at, recent.id)
            .options(defer(recent.raw, raiseload=True))
        )
    )


async def set_reaction(
    session: AsyncSession, tenant_id: uuid.UUID, wamid: str, emoji: str | None
) -> None:
    """The customer's reaction on the tenant's message `wamid` (None: removed)."""
    await session.execute(
        update(Message)
        .where(Message.tenant_id == tenant_id, Message.wamid == wamid)
        .values(reaction=emoji)
    )


# --- Statuses (statuses.py) ---------------------------------------------------------------


async def advance_status(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    wamid: str,
    rank: int,
    values: dict[str, Any],
) -> Row[uuid.UUID, uuid.UUID] | None:
    """The tenant's outbound message `wamid` takes `values` if its status ranks below `rank`
    (statuses only move forward): its (id, conversation_id), or None."""
    return (
        await session.execute(
            update(Message)
            .where(
                Message.tenant_id == tenant_id,
                Message.wamid == wamid,
                Message.direction == "outbound",
                Message.status_rank < rank,
            )
            .values(**values)
            .returning(Message.id, Message.conversation_id)
        )
    ).first()


async def message_id_by_wamid(
    session: AsyncSession, tenant_id: uuid.UUID, wamid: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(Message.id).where(Message.tenant_id == tenant_id, Message.wamid == wamid)
    )


async def adopt_wamid(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    wamid: str,
    status: str,
    rank: int,
    error: str | None,
    error_code: int | None,
) -> Row[uuid.UUID, uuid.UUID] | None:
    """The tenant's outbound message `message_id`, still without a wamid, takes `wamid` and
    this status (no longer being sent, nor waiting to be): its (id, conversation_id), or
    None."""
    return (
        await session.execute(
            update(Message)
            .where(
                Message.tenant_id == tenant_id,
                Message.id == message_id,
                Message.direction == "outbound",
                Message.wamid.is_(None),
            )
            .values(
                wamid=wamid,
                status=status,
                status_rank=rank,
                error=error,
                error_code=error_code,
                sending_until=None,
                next_attempt_at=None,
            )
            .returning(Message.id, Message.conversation_id)
        )
    ).first()


async def mark_unaccounted_attempts_sent(session: AsyncSession, message_id: uuid.UUID) -> None:
    """A message's delivery attempts still `sending` or `unknown` become `sent`. Keyed by the
    message (the exception to tenant scoping: its id is globally unique, and the caller just
    matched it within its tenant)."""
    await session.execute(
        update(DeliveryAttempt)
        .where(
            DeliveryAttempt.message_id == message_id,
            DeliveryAttempt.outcome.in_(("sending", "unknown")),
        )
        .values(outcome="sent")
    )


async def keep_pending_status(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    wamid: str,
    status: str,
    rank: int,
    error: str | None,
    error_code: int | None,
) -> None:
    """A status for a wamid the tenant has not stored (yet), once per (wamid, status)."""
    await session.execute(
        insert(PendingStatus)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            wamid=wamid,
            status=status,
            status_rank=rank,
            error=error,
            error_code=error_code,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "wamid", "status"])
    )


async def pending_statuses(
    session: AsyncSession, tenant_id: uuid.UUID, wamid: str
) -> list[PendingStatus]:
    """The statuses kept for the tenant's `wamid`, furthest first."""
    return list(
        await session.scalars(
            select(PendingStatus)
            .where(PendingStatus.tenant_id == tenant_id, PendingStatus.wamid == wamid)
            .order_by(PendingStatus.status_rank.desc())
        )
    )


async def drop_pending_statuses(session: AsyncSession, pending: list[PendingStatus]) -> None:
    """Pending statuses loaded by `pending_statuses` (tenant-scoped there), deleted now."""
    for row in pending:
        await session.delete(row)
    await session.flush()


# --- Conversations and outbound (conversations.py, outbound.py) ---------------------------


async def other_active_conversation(
    session: AsyncSession, conversation: Conversation
) -> uuid.UUID | None:
    """Another open or handed-off conversation of this one's (channel, contact). Keyed by the
    pair of a conversation the caller loaded within its tenant (the exception to tenant
    scoping: the ids are globally unique)."""
    return await session.scalar(
        select(Conversation.id).where(
            Conversation.channel_id == conversation.channel_id,
            Conversation.contact_id == conversation.contact_id,
            Conversation.status != "resolved",
            Conversation.id != conversation.id,
        )
    )


async def template_sent_since(
    session: AsyncSession, conversation_id: uuid.UUID, since: datetime
) -> uuid.UUID | None:
    """A template message of the conversation created at `since` or later. Keyed by a
    conversation the caller loaded (and locked) within its tenant (the exception to tenant
    scoping: its id is globally unique)."""
    return await session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.type == "template",
            Message.created_at >= since,
        )
        .limit(1)
    )


# --- Read receipts (receipts.py) ----------------------------------------------------------


# claimed, phone_number_id, access_token_encrypted, replied
_ReceiptTarget = Row[bool, str | None, str | None, bool]


async def claim_receipt_target(
    session: AsyncSession,
    consumer: str,
    event_id: uuid.UUID,
    *,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    since: datetime,
) -> _ReceiptTarget:
    """One statement for a read receipt: the claim of (consumer, event_id) (`claimed` False
    on a redelivery), the connected channel of the tenant's message (phone_number_id and
    access_token_encrypted, both None when there is none), and whether an outbound message
    of the conversation was sent (has a wamid) created at `since` or later."""
    claimed = (
        insert(processed_events)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
        .cte("claimed")
    )
    claim = select(exists(select(claimed.c.event_id)).label("claimed")).subquery("claim")
    target = (
        select(Channel.phone_number_id, Channel.access_token_encrypted)
        .join(Message, Message.channel_id == Channel.id)
        .where(
            Message.tenant_id == tenant_id,
            Message.id == message_id,
            Channel.deleted_at.is_(None),
        )
        .subquery("target")
    )
    replied = exists().where(
        Message.tenant_id == tenant_id,
        Message.conversation_id == conversation_id,
        Message.direction == "outbound",
        Message.wamid.is_not(None),
        Message.created_at >= since,
    )
    return (
        await session.execute(
            select(
                claim.c.claimed,
                target.c.phone_number_id,
                target.c.access_token_encrypted,
                replied.label("replied"),
            ).select_from(claim.outerjoin(target, true()))
        )
    ).one()


# --- Inbound media (media.py) -------------------------------------------------------------
# Keyed by the message (the exception to tenant scoping): a media job names a message id,
# globally unique, and each row written carries the message's tenant id.


async def media_fetch_attempts(session: AsyncSession, message_id: uuid.UUID) -> int:
    return int(
        await session.scalar(select(func.count()).where(MediaFetchAttempt.message_id == message_id))
        or 0
    )


def add_media_fetch_attempt(
    session: AsyncSession, message_id: uuid.UUID, error: str | None
) -> None:
    """An attempt to fetch the message's media (error None: it succeeded), flushed with the
    session."""
    session.add(MediaFetchAttempt(message_id=message_id, error=error))


async def claim_media_file(session: AsyncSession, message: Message) -> uuid.UUID | None:
    """The message's file row, inserted empty; None when it exists. A concurrent claim of the
    same message waits on it until this transaction ends."""
    return await session.scalar(
        insert(MediaFile)
        .values(message_id=message.id, tenant_id=message.tenant_id, size_bytes=0)
        .on_conflict_do_nothing()
        .returning(MediaFile.message_id)
    )


async def media_still_pending(session: AsyncSession, message_id: uuid.UUID) -> bool:
    status = await session.scalar(
        select(Message.media["status"].astext).where(Message.id == message_id)
    )
    return status == "pending"


async def insert_media_chunk(
    session: AsyncSession, message_id: uuid.UUID, seq: int, content: bytes
) -> None:
    await session.execute(
        insert(MediaChunk).values(message_id=message_id, seq=seq, content=content)
    )


async def finish_media_file(
    session: AsyncSession, message_id: uuid.UUID, *, size_bytes: int, mime_type: str | None
) -> None:
    await session.execute(
        update(MediaFile)
        .where(MediaFile.message_id == message_id)
        .values(size_bytes=size_bytes, mime_type=mime_type)
    )


async def settle_media(
    session: AsyncSession, message_id: uuid.UUID, media: dict[str, object]
) -> uuid.UUID | None:
    """The message's media summary, if it is still `pending`: the message id, or None when a
    twin settled it first."""
    return await session.scalar(
        update(Message)
        .where(Message.id == message_id, Message.media["status"].astext == "pending")
        .values(media=media)
        .returning(Message.id)
    )


# --- Outbound delivery (delivery.py) ------------------------------------------------------
# Keyed by the message (the exception to tenant scoping): a delivery job names a message id,
# globally unique; the lease is taken on that row, and the rest follows from the leased
# message (its conversation, its channel); rows written carry the message's tenant id.


async def lease_message(
    session: AsyncSession,
    message_id: uuid.UUID,
    *,
    lease: timedelta,
    order_wait: timedelta,
) -> Message | None:
    """The lease on a queued outbound message that is due and first in its conversation's
    line, and the message; None when it cannot be taken now (or is done)."""
    now = func.now()
    earlier = aliased(Message)
    ahead = (
        select(earlier.id)
        .where(
            earlier.conversation_id == Message.conversation_id,
            earlier.direction == "outbound",
            earlier.status == "queued",
            earlier.wamid.is_(None),
            tuple_(earlier.created_at, earlier.id) < tuple_(Message.created_at, Message.id),
            # One queued longer than this is stuck: it holds nobody back.
            earlier.created_at > now - order_wait,
        )
        .exists()
    )
    # The lease and the message in one round trip (RETURNING the row, not a re-select).
    return await session.scalar(
        update(Message)
        .where(
            Message.id == message_id,
            Message.direction == "outbound",
            Message.status == "queued",
            Message.wamid.is_(None),
            or_(Message.sending_until.is_(None), Message.sending_until < now),
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            ~ahead,
        )
        .values(sending_until=now + lease, next_attempt_at=None)
        .returning(Message)
        .execution_options(populate_existing=True, synchronize_session=False)
    )


async def delivery_context(
    session: AsyncSession, message: Message
) -> Row[Channel, str, int | None, str | None]:
    """A leased message's channel, its customer's number and its last attempt (number and
    outcome): one query."""
    last = (
        select(DeliveryAttempt.attempt, DeliveryAttempt.outcome)
        .where(DeliveryAttempt.message_id == message.id)
        .order_by(DeliveryAttempt.attempt.desc())
        .limit(1)
        .lateral()
    )
    return (
        await session.execute(
            select(Channel, Contact.wa_id, last.c.attempt, last.c.outcome)
            .select_from(Conversation)
            .join(Contact, Conversation.contact_id == Contact.id)
            .join(Channel, Channel.id == message.channel_id)
            .outerjoin(last, true())
            .where(Conversation.id == message.conversation_id)
        )
    ).one()


# direction, status, wamid, sending_until, next_attempt_at, conversation_id, created_at, id, now
_DeliveryState = Row[
    str, str, str | None, datetime | None, datetime | None, uuid.UUID, datetime, uuid.UUID, datetime
]


async def delivery_state(session: AsyncSession, message_id: uuid.UUID) -> _DeliveryState | None:
    """What decides whether (and how long) a message that could not be leased waits: its
    direction, status, wamid, lease, next attempt, place in its conversation, and now."""
    return (
        await session.execute(
            select(
                Message.direction,
                Message.status,
                Message.wamid,
                Message.sending_until,
                Message.next_attempt_at,
                Message.conversation_id,
                Message.created_at,
                Message.id,
                func.now().label("now"),
            ).where(Message.id == message_id)
        )
    ).first()


async def earliest_due_ahead(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    *,
    created_at: datetime,
    message_id: uuid.UUID,
    now: datetime,
    order_wait: timedelta,
) -> datetime | None:
    """When the first of the queued messages ahead of (created_at, message_id) in the
    conversation is due (`now` for those due already); None when none is."""
    return await session.scalar(
        select(func.min(func.coalesce(Message.next_attempt_at, now))).where(
            Message.conversation_id == conversation_id,
            Message.direction == "outbound",
            Message.status == "queued",
            Message.wamid.is_(None),
            tuple_(Message.created_at, Message.id) < tuple_(created_at, message_id),
            Message.created_at > now - order_wait,
        )
    )


async def next_in_line(
    session: AsyncSession, conversation_id: uuid.UUID, *, order_wait: timedelta
) -> uuid.UUID | None:
    """The conversation's first queued outbound message not stuck (queued within
    `order_wait`)."""
    now = func.now()
    first: uuid.UUID | None = await session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "outbound",
            Message.status == "queued",
            Message.wamid.is_(None),
            Message.created_at > now - order_wait,
        )
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    return first


async def start_attempt(
    session: AsyncSession, message: Message, attempt: int, *, lease: timedelta
) -> None:
    """The `sending` attempt, and the message's lease renewed (the attempt flushed first)."""
    add_sending_attempt(session, message, attempt)
    await session.execute(
        update(Message).where(Message.id == message.id).values(sending_until=func.now() + lease)
    )


def add_sending_attempt(session: AsyncSession, message: Message, attempt: int) -> None:
    """The `sending` attempt, flushed with the session (in the lease's transaction, the lease
    just taken needs no renewal)."""
    session.add(
        DeliveryAttempt(
            tenant_id=message.tenant_id,
            message_id=message.id,
            attempt=attempt,
            outcome="sending",
        )
    )


async def release_lease(session: AsyncSession, message_id: uuid.UUID) -> None:
    await session.execute(
        update(Message).where(Message.id == message_id).values(sending_until=None)
    )


async def record_attempt(
    session: AsyncSession, message: Message, attempt: int, outcome: dict[str, Any]
) -> None:
    """The attempt's outcome: on its `sending` row, or a new row when there is none."""
    existing = await session.scalar(
        update(DeliveryAttempt)
        .where(DeliveryAttempt.message_id == message.id, DeliveryAttempt.attempt == attempt)
        .values(**outcome)
        .returning(DeliveryAttempt.id)
    )
    if existing is None:
        session.add(
            DeliveryAttempt(
                tenant_id=message.tenant_id,
                message_id=message.id,
                attempt=attempt,
                **outcome,
            )
        )


async def settle_delivery(
    session: AsyncSession,
    message_id: uuid.UUID,
    values: dict[str, Any],
    *,
    only_queued: bool,
    retry_in_s: float | None = None,
) -> uuid.UUID | None:
    """The message takes `values` (and, with `retry_in_s`, its next attempt's time) unless
    it has a wamid already (or, `only_queued`, left `queued`): its id, or None."""
    where = [Message.id == message_id, Message.wamid.is_(None)]
    if only_queued:
        where.append(Message.status == "queued")
    if retry_in_s is not None:
        values = values | {"next_attempt_at": func.now() + timedelta(seconds=retry_in_s)}
    return await session.scalar(
        update(Message).where(*where).values(**values).returning(Message.id)
    )


async def mark_needs_reauth(session: AsyncSession, channel_id: uuid.UUID) -> None:
    """Meta refused the channel's token (keyed by the leased message's channel)."""
    await session.execute(update(Channel).where(Channel.id == channel_id).values(needs_reauth=True))


# --- CSAT (csat.py) -----------------------------------------------------------------------
# Keyed by the conversation, channel or contact a tenant-scoped lookup (or inbound's routing)
# resolved (the exception to tenant scoping: the ids are globally unique).


async def agent_wrote(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """Whether an agent wrote to the customer in the conversation."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "outbound",
                    Message.author == "agent",
                )
            )
        )
    )


async def templates_named(
    session: AsyncSession, channel_id: uuid.UUID, name: str
) -> list[Template]:
    """The channel's templates called `name`, in every language (by language)."""
    return list(
        await session.scalars(
            select(Template)
            .where(Template.channel_id == channel_id, Template.name == name)
            .order_by(Template.language)
        )
    )


async def latest_csat_request(
    session: AsyncSession, channel_id: uuid.UUID, contact_id: uuid.UUID
) -> CSATRequest | None:
    """The latest rating request sent (it has a message) to the contact on the channel."""
    return await session.scalar(
        select(CSATRequest)
        .where(
            CSATRequest.channel_id == channel_id,
            CSATRequest.contact_id == contact_id,
            CSATRequest.message_id.is_not(None),
        )
        .order_by(CSATRequest.created_at.desc())
        .limit(1)
    )


async def lock_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    """The conversation, locked and fresh (keyed by a CSAT request's conversation)."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def claim_csat_answer(
    session: AsyncSession, request_id: uuid.UUID, score: int, message: Message
) -> uuid.UUID | None:
    """The request's rating, if it has none yet: its id, or None (answered already)."""
    return await session.scalar(
        update(CSATRequest)
        .where(CSATRequest.id == request_id, CSATRequest.score.is_(None))
        .values(score=score, answer_message_id=message.id, responded_at=message.created_at)
        .returning(CSATRequest.id)
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- Consumers (consumers.py) -------------------------------------------------------------


async def claim_events(
    session: AsyncSession, consumer: str, event_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """The events of a batch `consumer` sees for the first time (the others are
    redeliveries), claimed in the batch's transaction. Not tenant data: a claim is keyed by
    (consumer, event id). A single event is claimed by `common.idempotency.claim`."""
    result = await session.execute(
        insert(processed_events).on_conflict_do_nothing().returning(processed_events.c.event_id),
        [{"consumer": consumer, "event_id": event_id} for event_id in event_ids],
    )
    return set(result.scalars())


# --- Team inbox (inbox.py) ----------------------------------------------------------------
# Members and presence are keyed by auth's user id (globally unique; each row carries the
# member's tenant id). Labels, read markers and conversation labels of one conversation are
# keyed by a conversation id a tenant-scoped lookup resolved.


async def upsert_team_member(
    session: AsyncSession, user_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Keyed by the user id (auth's, globally unique); `values` carry the tenant id."""
    await session.execute(
        insert(TeamMember)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[TeamMember.user_id], set_=values)
    )


async def delete_team_member(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Keyed by the user id (auth's, globally unique)."""
    await session.execute(delete(TeamMember).where(TeamMember.user_id == user_id))


async def delete_presence(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Keyed by the user id (auth's, globally unique)."""
    await session.execute(delete(TeamPresence).where(TeamPresence.user_id == user_id))


async def delete_read_markers(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Keyed by the user id (auth's, globally unique)."""
    await session.execute(delete(ConversationRead).where(ConversationRead.user_id == user_id))


async def lock_conversations_assigned_to(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> list[tuple[Conversation, Contact]]:
    rows = (
        await session.execute(
            conversations(tenant_id)
            .where(Conversation.assignee_id == user_id)
            .with_for_update(of=Conversation)
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


async def upsert_presence(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
    *,
    unless_seen_since: datetime,
) -> None:
    """Keyed by the user id (auth's, globally unique); the row carries the tenant id. A
    presence written after `unless_seen_since` is left as it is."""
    stmt = insert(TeamPresence).values(user_id=user_id, tenant_id=tenant_id, last_seen_at=now)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TeamPresence.user_id],
            set_={"last_seen_at": now, "tenant_id": tenant_id},
            where=TeamPresence.last_seen_at < unless_seen_since,
        )
    )


async def upsert_inbox_settings(
    session: AsyncSession, tenant_id: uuid.UUID, *, round_robin: bool
) -> None:
    await session.execute(
        insert(InboxSettings)
        .values(tenant_id=tenant_id, round_robin=round_robin)
        .on_conflict_do_update(
            index_elements=[InboxSettings.tenant_id], set_={"round_robin": round_robin}
        )
    )


async def least_busy_online(
    session: AsyncSession, tenant_id: uuid.UUID, *, seen_since: datetime
) -> uuid.UUID | None:
    """The member seen since `seen_since` with the fewest open or handed-off conversations
    assigned; ties go to whoever was assigned least recently. Locked (one hand-off at a
    time picks them)."""
    busy = (
        select(func.count())
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.assignee_id == TeamMember.user_id,
            Conversation.status != "resolved",
        )
        .correlate(TeamMember)
        .scalar_subquery()
    )
    return await session.scalar(
        select(TeamMember.user_id)
        .join(TeamPresence, TeamPresence.user_id == TeamMember.user_id)
        .where(
            TeamMember.tenant_id == tenant_id,
            TeamPresence.tenant_id == tenant_id,
            TeamPresence.last_seen_at >= seen_since,
        )
        .order_by(busy, TeamMember.last_assigned_at.asc().nulls_first(), TeamMember.user_id)
        .limit(1)
        .with_for_update(of=TeamMember)
    )


async def mark_assigned(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        update(TeamMember)
        .where(TeamMember.user_id == user_id, TeamMember.tenant_id == tenant_id)
        .values(last_assigned_at=now)
    )


def assigned_to(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    """A filter for `list_conversations`: assigned to that member, or to nobody (None)."""
    if user_id is None:
        return Conversation.assignee_id.is_(None)
    return Conversation.assignee_id == user_id


def labelled(label_id: uuid.UUID) -> ColumnElement[bool]:
    """A filter for `list_conversations` (which scopes it to the tenant): carries the label."""
    return exists().where(
        ConversationLabel.conversation_id == Conversation.id,
        ConversationLabel.label_id == label_id,
    )


async def upsert_read_marker(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """Keyed by a conversation the caller's tenant-scoped lookup resolved."""
    now = func.now()
    await session.execute(
        insert(ConversationRead)
        .values(user_id=user_id, conversation_id=conversation_id, last_read_at=now)
        .on_conflict_do_update(
            index_elements=[ConversationRead.user_id, ConversationRead.conversation_id],
            set_={"last_read_at": now},
        )
    )


async def read_markers(
    session: AsyncSession, user_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When the member last read each of these conversations (those they ever read). Keyed
    by conversations a tenant-scoped query listed."""
    rows = await session.execute(
        select(ConversationRead.conversation_id, ConversationRead.last_read_at).where(
            ConversationRead.user_id == user_id,
            ConversationRead.conversation_id.in_(conversation_ids),
        )
    )
    return {conversation_id: read_at for conversation_id, read_at in rows.all()}


async def unread_since_read(
    session: AsyncSession, user_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, int]]:
    """The customer's messages stored since the member last read each conversation (those
    with any). Keyed by conversations a tenant-scoped query listed."""
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .join(
            ConversationRead,
            (ConversationRead.conversation_id == Message.conversation_id)
            & (ConversationRead.user_id == user_id),
        )
        .where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "inbound",
            Message.stored_at > ConversationRead.last_read_at,
        )
        .group_by(Message.conversation_id)
    )
    return [(conversation_id, int(count)) for conversation_id, count in rows.all()]


def _label_count() -> Any:
    return (
        select(func.count())
        .where(ConversationLabel.label_id == Label.id)
        .correlate(Label)
        .scalar_subquery()
    )


async def list_labels(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[tuple[Label, int]], str | None]:
    """By name, each with the number of conversations carrying it."""
    stmt = select(Label, _label_count()).where(Label.tenant_id == tenant_id)
    rows = (await session.execute(keyset(stmt, page, Label.name, Label.id))).all()
    labels: list[tuple[Label, int]] = [(r[0], int(r[1])) for r in rows]
    return trim_page(labels, page.limit, lambda r: (r[0].name, r[0].id))


async def insert_label(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, color: str
) -> Label | None:
    """The new label, or None when the tenant has one of that name."""
    return await session.scalar(
        insert(Label)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, name=name, color=color)
        .on_conflict_do_nothing()
        .returning(Label)
    )


async def delete_label(
    session: AsyncSession, tenant_id: uuid.UUID, label_id: uuid.UUID
) -> uuid.UUID | None:
    """The deleted label's id, or None (no such label). Its conversation labels go with it
    (ON DELETE CASCADE)."""
    return await session.scalar(
        delete(Label).where(Label.tenant_id == tenant_id, Label.id == label_id).returning(Label.id)
    )


async def known_label_ids(
    session: AsyncSession, tenant_id: uuid.UUID, label_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `label_ids` are the tenant's labels."""
    return set(
        await session.scalars(
            select(Label.id).where(Label.tenant_id == tenant_id, Label.id.in_(label_ids))
        )
    )


async def clear_conversation_labels(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """Keyed by a conversation a tenant-scoped lookup resolved (and locked)."""
    await session.execute(
        delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation_id)
    )


async def add_conversation_labels(
    session: AsyncSession, conversation_id: uuid.UUID, label_ids: Collection[uuid.UUID]
) -> None:
    """Keyed by a conversation a tenant-scoped lookup resolved, with the tenant's labels."""
    await session.execute(
        insert(ConversationLabel),
        [{"conversation_id": conversation_id, "label_id": i} for i in label_ids],
    )


async def labels_of_conversations(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, Label]]:
    """(conversation id, label) for each label of these conversations, by name. Keyed by
    conversations a tenant-scoped query listed."""
    rows = await session.execute(
        select(ConversationLabel.conversation_id, Label)
        .join(Label, Label.id == ConversationLabel.label_id)
        .where(ConversationLabel.conversation_id.in_(list(conversation_ids)))
        .order_by(Label.name)
    )
    return [(conversation_id, label) for conversation_id, label in rows.all()]


async def list_canned(
    session: AsyncSession, tenant_id: uuid.UUID, page: PageQuery
) -> tuple[list[CannedReply], str | None]:
    stmt = keyset(
        select(CannedReply).where(CannedReply.tenant_id == tenant_id), page, CannedReply.shortcut
    )
    rows: list[CannedReply] = list(await session.scalars(stmt))
    return trim_page(rows, page.limit, lambda r: (r.shortcut,))


async def insert_canned(
    session: AsyncSession, tenant_id: uuid.UUID, shortcut: str, text: str
) -> CannedReply | None:
    """The new canned reply, or None when the tenant has that shortcut."""
    return await session.scalar(
        insert(CannedReply)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, shortcut=shortcut, text=text)
        .on_conflict_do_nothing()
        .returning(CannedReply)
    )


async def lock_canned(
    session: AsyncSession, tenant_id: uuid.UUID, reply_id: uuid.UUID
) -> CannedReply | None:
    return await session.scalar(
        select(CannedReply)
        .where(CannedReply.tenant_id == tenant_id, CannedReply.id == reply_id)
        .with_for_update()
    )


# --- Templates (templates.py, api.py) -----------------------------------------------------
# Keyed by a channel a tenant-scoped lookup resolved (rows written carry its tenant id), or,
# for Meta's status webhooks, by the WhatsApp Business Account id, which routes like
# `channel_by_number`: the account's channels decide the tenant.


async def upsert_template(
    session: AsyncSession,
    channel: Channel,
    name: str,
    language: str,
    values: dict[str, Any],
) -> None:
    """One (channel, name, language) template, inserted or updated with `values`."""
    await session.execute(
        insert(Template)
        .values(
            id=uuid.uuid4(),
            tenant_id=channel.tenant_id,
            channel_id=channel.id,
            name=name,
            language=language,
            **values,
        )
        .on_conflict_do_update(index_elements=["channel_id", "name", "language"], set_=values)
    )


async def template_keys(
    session: AsyncSession, channel_id: uuid.UUID
) -> list[Row[uuid.UUID, str, str]]:
    """(id, name, language) of each of the channel's templates."""
    rows = await session.execute(
        select(Template.id, Template.name, Template.language).where(
            Template.channel_id == channel_id
        )
    )
    return list(rows.all())


async def delete_templates(session: AsyncSession, template_ids: Collection[uuid.UUID]) -> None:
    """By id: templates `template_keys` listed for a channel."""
    await session.execute(delete(Template).where(Template.id.in_(template_ids)))


async def channel_templates(session: AsyncSession, channel_id: uuid.UUID) -> list[Template]:
    return list(
        await session.scalars(
            select(Template)
            .where(Template.channel_id == channel_id)
            .order_by(Template.name, Template.language)
        )
    )


async def find_template(
    session: AsyncSession, channel_id: uuid.UUID, name: str, language: str
) -> Template | None:
    return await session.scalar(
        select(Template).where(
            Template.channel_id == channel_id,
            Template.name == name,
            Template.language == language,
        )
    )


async def find_template_id(
    session: AsyncSession, channel_id: uuid.UUID, name: str, language: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(Template.id).where(
            Template.channel_id == channel_id,
            Template.name == name,
            Template.language == language,
        )
    )


def _of_account(waba_id: str) -> ColumnElement[bool]:
    """Only this account's channels: a status never reaches another account's templates."""
    return Template.channel_id.in_(
        select(Channel.id).where(Channel.waba_id == waba_id, Channel.deleted_at.is_(None))
    )


async def _set_template_status(
    session: AsyncSession, condition: ColumnElement[bool], status: str
) -> int:
    result = await session.execute(
        update(Template)
        .where(condition)
        .values(status=status, synced_at=datetime.now(UTC))
        .returning(Template.id)
    )
    return len(result.all())


async def set_template_status_by_meta_id(
    session: AsyncSession, waba_id: str, meta_template_id: str, status: str
) -> int:
    """Keyed by the account (routing: Meta's webhook names it) and Meta's template id: how
    many rows changed."""
    condition = _of_account(waba_id) & (Template.meta_template_id == meta_template_id)
    return await _set_template_status(session, condition, status)


async def set_template_status_by_name(
    session: AsyncSession, waba_id: str, name: str, language: str, status: str
) -> int:
    """Keyed by the account (routing: Meta's webhook names it), name and language: how many
    rows changed."""
    condition = _of_account(waba_id) & (Template.name == name) & (Template.language == language)
    return await _set_template_status(session, condition, status)


async def live_channels_of_account(session: AsyncSession, waba_id: str) -> list[Channel]:
    """Routing: the connected live channels of a WhatsApp Business Account, whichever
    tenant owns them."""
    return list(
        await session.scalars(
            select(Channel).where(
                Channel.waba_id == waba_id,
                Channel.deleted_at.is_(None),
                Channel.access_token_encrypted.is_not(None),
            )
        )
    )


# --- A contact's data (erasure.py) --------------------------------------------------------
# The deletes are keyed by ids the tenant-scoped reads here resolved (the contact, its
# conversations and their messages); the caller orders them, children first.


async def contact_conversations(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> list[tuple[Conversation, Contact]]:
    """The contact's conversations, oldest first."""
    rows = await session.execute(
        conversations(tenant_id)
        .where(Conversation.contact_id == contact_id)
        .order_by(Conversation.created_at)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def messages_of_conversations(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_ids: Collection[uuid.UUID]
) -> list[Message]:
    """Every message of these conversations (notes included), oldest first."""
    return list(
        await session.scalars(
            messages(tenant_id)
            .where(Message.conversation_id.in_(conversation_ids))
            .order_by(Message.created_at, Message.id)
        )
    )


async def lock_contact(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact | None:
    return await session.scalar(
        contacts(tenant_id).where(Contact.id == contact_id).with_for_update()
    )


async def contact_conversation_ids(
    session: AsyncSession, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(Conversation.id).where(
                Conversation.tenant_id == tenant_id, Conversation.contact_id == contact_id
            )
        )
    )


async def message_ids_and_wamids(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_ids: Collection[uuid.UUID]
) -> list[Row[uuid.UUID, str | None]]:
    """(id, wamid) of every message of these conversations."""
    rows = await session.execute(
        select(Message.id, Message.wamid).where(
            Message.tenant_id == tenant_id, Message.conversation_id.in_(conversation_ids)
        )
    )
    return list(rows.all())


async def delete_media_files(session: AsyncSession, message_ids: Collection[uuid.UUID]) -> None:
    """Keyed by the messages resolved above; their chunks go with them (ON DELETE CASCADE)."""
    await session.execute(delete(MediaFile).where(MediaFile.message_id.in_(message_ids)))


async def delete_media_fetch_attempts(
    session: AsyncSession, message_ids: Collection[uuid.UUID]
) -> None:
    """Keyed by the messages resolved above."""
    await session.execute(
        delete(MediaFetchAttempt).where(MediaFetchAttempt.message_id.in_(message_ids))
    )


async def delete_delivery_attempts(
    session: AsyncSession, message_ids: Collection[uuid.UUID]
) -> None:
    """Keyed by the messages resolved above."""
    await session.execute(
        delete(DeliveryAttempt).where(DeliveryAttempt.message_id.in_(message_ids))
    )


async def delete_pending_statuses(
    session: AsyncSession, tenant_id: uuid.UUID, wamids: Collection[str]
) -> None:
    await session.execute(
        delete(PendingStatus).where(
            PendingStatus.tenant_id == tenant_id, PendingStatus.wamid.in_(wamids)
        )
    )


async def delete_messages(session: AsyncSession, message_ids: Collection[uuid.UUID]) -> None:
    """Keyed by the messages resolved above."""
    await session.execute(delete(Message).where(Message.id.in_(message_ids)))


async def delete_conversations(
    session: AsyncSession, conversation_ids: Collection[uuid.UUID]
) -> None:
    """Keyed by the conversations resolved above; their labels and read markers go with them
    (ON DELETE CASCADE)."""
    await session.execute(delete(Conversation).where(Conversation.id.in_(conversation_ids)))


async def delete_contact(session: AsyncSession, contact_id: uuid.UUID) -> None:
    """Keyed by the contact `lock_contact` resolved."""
    await session.execute(delete(Contact).where(Contact.id == contact_id))
