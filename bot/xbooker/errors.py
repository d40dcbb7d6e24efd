"""The exceptions the X Booker adapter raises, one class per thing a caller does differently.

Each carries the HTTP status (when there was a response) and X Booker's message
verbatim, so the reply can quote it. None carries a URL, header or token: the
text of an exception ends up in logs and, through the renderer, in Slack.
"""

from __future__ import annotations

from bot.logs import scrub
from bot.xbooker import messages as m


class XBookerError(Exception):
    """Base of every X Booker failure; ``message`` is X Booker's own words where it sent any."""

    def __init__(self, message: str, status: int | None = None, operation: str = "") -> None:
        # X Booker's text reaches replies and the audit log: a secret it echoes must not.
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.operation = operation

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.message}"


class APIError(XBookerError):
    """X Booker answered with an error status and a message."""


class CredentialsError(APIError):
    """Wrong client id, secret or organization id: final until configuration changes."""


class AppUnavailableError(APIError):
    """The delegated app was removed or has expired: final until an admin acts in X Booker."""


class ScopeError(APIError):
    """The delegated app lacks the scope for this operation."""


class NotFoundError(APIError):
    """A member (or route) does not exist."""


class ConflictError(APIError):
    """X Booker refused a change that conflicts with the organization's state."""


class InvalidRequestError(APIError):
    """X Booker rejected the request's body or method."""


class TokenError(APIError):
    """A token X Booker still refused after the one renewal the rules allow."""


class ServerError(APIError):
    """A 5xx from X Booker, after the retries allowed for this kind of call."""


class TransportError(XBookerError):
    """No usable answer: timeout, refused or dropped connection, or a body that is not JSON."""


class OutcomeUnknownError(TransportError):
    """A write may or may not have been applied; it is never replayed automatically."""


class ReissueRefusedError(XBookerError):
    """Our own rule (at most one refresh token a minute) stopped a re-issue."""


_BY_MESSAGE: dict[str, type[APIError]] = {
    m.CLIENT_NOT_FOUND: CredentialsError,
    m.INVALID_CLIENT_SECRET: CredentialsError,
    m.ORGANIZATION_NOT_FOUND: CredentialsError,
    m.APP_NOT_FOUND: AppUnavailableError,
    m.REFRESH_EXPIRED: AppUnavailableError,
    m.INVALID_SCOPE: ScopeError,
    m.MEMBER_NOT_FOUND: NotFoundError,
    m.ROUTE_NOT_FOUND: NotFoundError,
    m.MEMBER_EXISTS: ConflictError,
    m.LAST_OWNER: ConflictError,
    m.INVALID_BODY: InvalidRequestError,
    m.METHOD_NOT_RECOGNIZED: InvalidRequestError,
    m.ACCESS_EXPIRED: TokenError,
    m.NO_REFRESH_TOKENS: TokenError,
    m.INVALID_REFRESH_TOKEN: TokenError,
    m.NOT_PERMITTED: TokenError,
}


def from_response(status: int, message: str, operation: str = "") -> APIError:
    """The exception for an error answer; unknown messages keep their text verbatim."""
    if status >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _BY_MESSAGE.get(message, APIError)
        if cls is APIError:
            cls = {404: NotFoundError, 409: ConflictError}.get(status, APIError)
    return cls(message, status, operation)
