"""API keys and roles: what a key looks like, how it is stored, what each role may do.

Pure: key generation with `secrets`, SHA-256 of the key for storage (a key has 256 bits of
entropy, so a plain hash is enough and lookups stay one indexed query), and the role ->
permission table. Storing keys is `store.py`'s job; checking a request is the API's.

>>> key = new_key()
>>> key.startswith(PREFIX) and hash_key(key) != key
True
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from allocator.errors import AllocatorError, InputIssue, InvalidInputError

PREFIX = "alk_"

DEFAULT_TEAM = "default"
"""The team of keys made before teams existed, and of keys made without one."""

NAME_LENGTH = 100
"""The longest name of a key or of a team (the width of their columns)."""


def checked_name(value: str, option: str) -> str:
    """`value` without surrounding blanks, when it is 1 to `NAME_LENGTH` printable
    characters; InvalidInputError naming `option` and the value otherwise.

    >>> checked_name(" north ", "--team")
    'north'
    >>> checked_name("x" * 101, "--name")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    allocator.errors.InvalidInputError: --name: has 101 characters; it must be 1 to 100 ...
    """
    value = value.strip()
    if not value or len(value) > NAME_LENGTH or not value.isprintable():
        message = f"has {len(value)} characters; it must be 1 to {NAME_LENGTH} printable ones"
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise InvalidInputError([InputIssue(option, "", message, shown)])
    return value


class Role(enum.StrEnum):
    """What a key may do: planners upload and run, viewers read, auditors read and verify,
    requesters (sales) file requests and follow their own."""

    PLANNER = "planner"
    VIEWER = "viewer"
    AUDITOR = "auditor"
    REQUESTER = "requester"


class Permission(enum.StrEnum):
    READ = "read"
    """Read portfolios, runs and results."""
    WRITE = "write"
    """Upload portfolios, submit and cancel runs."""
    AUDIT = "audit"
    """Recompute the audit chain."""
    REQUEST = "request"
    """File requests for presales support and follow one's own (the web app)."""


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLANNER: frozenset({Permission.READ, Permission.WRITE}),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.AUDIT}),
    Role.REQUESTER: frozenset({Permission.REQUEST}),
}


class AuthenticationError(AllocatorError):
    """No API key was sent, or the key is not known (HTTP 401)."""


class PermissionDeniedError(AllocatorError):
    """The key's role does not allow the request (HTTP 403)."""


def new_key() -> str:
    """A new random API key: `alk_` and 43 URL-safe characters (256 bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What the store keeps of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


@dataclass(frozen=True)
class KeyEntry:
    """A stored key, without the key itself."""

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    team: str = "default"


ACTIONS = {
    Permission.READ: "read portfolios and runs",
    Permission.WRITE: "upload portfolios or submit and cancel runs",
    Permission.AUDIT: "verify the audit log",
    Permission.REQUEST: "file requests for presales support",
}


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the key's name, role and team."""

    name: str
    role: Role
    team: str = DEFAULT_TEAM

    @property
    def sees_all(self) -> bool:
        """Auditors see every team's work; planners and viewers their own team's."""
        return self.role is Role.AUDITOR

    def sees(self, team: str) -> bool:
        """Whether this key may see (and, with the role for it, act on) `team`'s work."""
        return self.sees_all or team == self.team

    def require(self, permission: Permission) -> None:
        """Raise PermissionDeniedError unless the role allows `permission`."""
        if not allows(self.role, permission):
            raise PermissionDeniedError(
                f"key {self.name!r} has role {self.role.value}, which may not {ACTIONS[permission]}"
            )
