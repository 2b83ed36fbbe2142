# SPDX-License-Identifier: AGPL-3.0-or-later
"""The one error tree of socialdesk.

::

    SocialdeskError
    ├── ConfigurationError          settings that cannot work; the process refuses to start
    ├── ValidationError             bad user input; nothing was changed
    ├── NotFound                    no such thing *in this workspace*
    ├── PermissionDenied            the role does not allow it
    ├── AuthenticationFailed        unknown user, wrong password, bad or revoked token
    ├── Conflict                    the change clashes with what exists (duplicate e-mail…)
    ├── TooManyAttempts(retry_after)  our own throttles (sign-in)
    ├── VaultError                  a stored secret cannot be decrypted with the keys at hand
    └── ConnectorError              anything a network or ad platform answered
        ├── AuthExpired             the user must reconnect the channel
        ├── RateLimited(retry_after)
        ├── TransientError          try again later (5xx, connection refused)
        │   └── UncertainOutcome    the request may have been applied (timeout mid-call):
        │                           look the result up on the network before retrying
        └── Rejected(reason)        the network refused the content; retrying will not help

Messages are written for the person who has to fix the problem, and never contain a
secret. Translate foreign exceptions at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any


class SocialdeskError(Exception):
    """Root of every error socialdesk raises on purpose."""

    #: A stable, machine-readable name for API clients.
    code: str = "error"
    #: Structured detail for API clients (e.g. an import's per-row report).
    details: dict[str, Any] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(SocialdeskError):
    code = "configuration_error"


class ValidationError(SocialdeskError):
    """Bad input; ``field`` names what to fix when one field is at fault."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(SocialdeskError):
    code = "not_found"


class PermissionDenied(SocialdeskError):
    code = "permission_denied"


class AuthenticationFailed(SocialdeskError):
    code = "authentication_failed"


class Conflict(SocialdeskError):
    code = "conflict"


class TooManyAttempts(SocialdeskError):
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VaultError(SocialdeskError):
    code = "vault_error"


class ConnectorError(SocialdeskError):
    """Something a network or ad platform answered (or failed to answer)."""

    code = "connector_error"


class AuthExpired(ConnectorError):
    code = "auth_expired"


class RateLimited(ConnectorError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    code = "transient_error"


class UncertainOutcome(TransientError):
    """The call may or may not have taken effect; never retry blindly (publish at most once)."""

    code = "uncertain_outcome"


class Rejected(ConnectorError):
    code = "rejected"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
