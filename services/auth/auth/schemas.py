"""HTTP bodies of auth (docs/api.md, auth)."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from common.text import InputModel

# Deliberately plain: one @, something on each side, a dot in the domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


Email = Annotated[str, AfterValidator(_normalise_email)]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
BusinessName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)
]


class RegisterIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    name: Name
    business_name: BusinessName


class LoginIn(InputModel):
    email: Email
    # No length rule here: a wrong password of any length is just a wrong password.
    password: Annotated[str, Field(max_length=1024)]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: str


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str


class SessionOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut
    tenant: TenantOut


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut


class MemberIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    password: Password
    role: Literal["admin", "agent"]


class MemberOut(UserOut):
    created_at: datetime


class RevokedUserOut(BaseModel):
    user_id: uuid.UUID
    revoked_at: datetime


class RevokedUsersOut(BaseModel):
    """`GET /internal/revocations`: whose tokens every service must refuse."""

    items: list[RevokedUserOut]
