"""Proving a live channel's claim before it routes anything: the access token must read the
phone number at Meta, and the number must be one of the WhatsApp Business Account's numbers.
Without this anyone could connect a real business's number and receive its customers' messages.
"""

import secrets
from dataclasses import dataclass
from typing import Any

import structlog

from common.errors import AppError
from ingest.graph import GraphClient, GraphError

log = structlog.get_logger(__name__)

# Meta's ids are digits; a sandbox id never is, so the two can never meet.
SANDBOX_PREFIX = "sandbox-"


def sandbox_phone_number_id() -> str:
    """A platform-made id for a sandbox channel (no real number has letters in its id)."""
    return f"{SANDBOX_PREFIX}{secrets.token_hex(16)}"


@dataclass(frozen=True)
class VerifiedNumber:
    phone_number_id: str
    waba_id: str | None
    display_phone_number: str | None
    verified_name: str | None


def _meta_refused(error: GraphError) -> bool:
    """Meta answered with its error object and a code that is about the request (a bad token,
    no permission, no such object): the caller's fault, not a passing outage."""
    return error.code is not None and not error.retryable


def _unavailable(error: GraphError) -> AppError:
    log.warning("channel.verification_unavailable", error=str(error))
    return AppError(
        503,
        "could not verify the number with Meta right now (the Graph API is unavailable: "
        f"{error}); nothing was connected, try again",
    )


async def verify_live_number(
    graph: GraphClient, *, phone_number_id: str, waba_id: str | None, token: str
) -> VerifiedNumber:
    """Ask Meta with the tenant's token; 422 when Meta says no, 503 when it cannot be asked.

    A token reads only the numbers of the accounts it was granted, so reading the number is
    the proof; with a `waba_id` (optional in the API; templates need it) the account must
    list the number too, so the stored account is the number's own."""
    try:
        number = await graph.phone_number(phone_number_id=phone_number_id, token=token)
    except GraphError as error:
        if not _meta_refused(error):
            raise _unavailable(error) from error
        raise AppError(
            422,
            f"the access token cannot read phone number {phone_number_id} at Meta ({error})",
        ) from error
    if str(number.get("id")) != phone_number_id:
        raise AppError(
            422, f"Meta did not confirm phone number {phone_number_id} for this access token"
        )
    if waba_id is None:
        return _verified(phone_number_id, None, number)
    try:
        account_numbers = await graph.account_phone_number_ids(waba_id=waba_id, token=token)
    except GraphError as error:
        if not _meta_refused(error):
            raise _unavailable(error) from error
        raise AppError(
            422,
            f"the access token cannot read WhatsApp Business Account {waba_id} at Meta ({error})",
        ) from error
    if phone_number_id not in account_numbers:
        raise AppError(
            422,
            f"phone number {phone_number_id} is not a number of WhatsApp Business Account "
            f"{waba_id}",
        )
    return _verified(phone_number_id, waba_id, number)


def _verified(phone_number_id: str, waba_id: str | None, number: dict[str, Any]) -> VerifiedNumber:
    display = number.get("display_phone_number")
    name = number.get("verified_name")
    return VerifiedNumber(
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        display_phone_number=str(display)[:32] if display else None,
        verified_name=str(name) if name else None,
    )
