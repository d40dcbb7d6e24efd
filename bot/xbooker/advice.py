"""What each X Booker message means and what to do about it, for replies, ``doctor``
and the README's troubleshooting table (which must list every entry here)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.xbooker import errors
from bot.xbooker import messages as m
from bot.xbooker.operations import OPERATIONS


@dataclass(frozen=True)
class Advice:
    meaning: str
    action: str


ADVICE: dict[str, Advice] = {
    m.CLIENT_NOT_FOUND: Advice(
        "X Booker does not know the delegated app's client id.",
        "Check XBOOKER_CLIENT_ID against the app's ID in X Booker (Organization page, "
        "Delegated Access); the app may also have been removed.",
    ),
    m.INVALID_CLIENT_SECRET: Advice(
        "The delegated app's secret is wrong.",
        "Copy the Secret from the app's card in X Booker into XBOOKER_CLIENT_SECRET and restart.",
    ),
    m.INVALID_REFRESH_TOKEN: Advice(
        "The stored refresh token is no longer valid (a newer one was issued, or the client "
        "id does not match).",
        "The bot replaces it by itself; if this persists, check XBOOKER_CLIENT_ID and that no "
        "other deployment uses the same delegated app.",
    ),
    m.NOT_PERMITTED: Advice(
        "The refresh token was obtained from another location: X Booker binds it to the "
        "app, browser and IP that obtained it.",
        "Give the bot a stable egress IP; the bot obtains its own token once, but a changing "
        "IP makes this recur.",
    ),
    m.REFRESH_EXPIRED: Advice(
        "The delegated app has passed its expiry date.",
        "An X Booker organization admin must extend the app's expiry or create a new "
        "delegated app and update the XBOOKER_* credentials.",
    ),
    m.METHOD_NOT_RECOGNIZED: Advice(
        "X Booker does not accept this HTTP method on this endpoint.",
        "This is a bug or an X Booker API change: report it with the correlation id.",
    ),
    m.INVALID_SCOPE: Advice(
        "The delegated app lacks the scope for this task.",
        "An X Booker organization admin can add the scope to the delegated app "
        "(Organization page, Delegated Access).",
    ),
    m.ACCESS_EXPIRED: Advice(
        "The access token was older than 2 minutes.",
        "The bot renews it and retries once by itself; if you see this, check the server's clock.",
    ),
    m.NO_REFRESH_TOKENS: Advice(
        "A newer refresh token was issued for this delegated app, so ours stopped working.",
        "The bot obtains a new one by itself (at most once a minute); if it recurs, another "
        "deployment or script is using the same delegated app: give each its own.",
    ),
    m.APP_NOT_FOUND: Advice(
        "The delegated app was removed or has expired.",
        "An X Booker organization admin must restore or re-create the delegated app and "
        "update the XBOOKER_* credentials.",
    ),
    m.ORGANIZATION_NOT_FOUND: Advice(
        "The organization id is wrong.",
        "Copy the Organization value from the app's card in X Booker into "
        "XBOOKER_ORGANIZATION_ID and restart.",
    ),
    m.ROUTE_NOT_FOUND: Advice(
        "X Booker does not have this endpoint.",
        "Check XBOOKER_BASE_URL; if it is right, X Booker's API changed: report it.",
    ),
    m.MEMBER_NOT_FOUND: Advice(
        "No member has that id or email.",
        "Look the member up with `/xbooker members list <name or email>`.",
    ),
    m.INVALID_BODY: Advice(
        "X Booker rejected a value in the request.",
        "Check the values (email format, role, IANA time zone such as Europe/Paris) and try again.",
    ),
    m.MEMBER_EXISTS: Advice(
        "That email is already a member of the organization.",
        "Use `/xbooker members show <email>` to see them, or `members role` to change their role.",
    ),
    m.LAST_OWNER: Advice(
        "The organization must keep at least one owner.",
        "Make another member an owner first.",
    ),
}


def advise(exc: errors.XBookerError) -> Advice:
    """Advice for any failure, including ones without an X Booker message."""
    known = ADVICE.get(exc.message)
    if known is not None:
        if isinstance(exc, errors.ScopeError) and exc.operation in OPERATIONS:
            op = OPERATIONS[exc.operation]
            return Advice(
                f"The delegated app may not {op.capability}: it lacks the scope this "
                f"project calls `{op.scope}` (our name for it, not X Booker's).",
                known.action,
            )
        return known
    if isinstance(exc, errors.OutcomeUnknownError):
        failed = "X Booker failed" if exc.status else "The connection failed"
        return Advice(
            f"{failed} after the change was sent: it may or may not have been applied.",
            "Check the current state (for example `/xbooker members show`) before trying again.",
        )
    if isinstance(exc, errors.ServerError):
        write = exc.operation in OPERATIONS and OPERATIONS[exc.operation].write
        return Advice(
            "X Booker had an internal error.",
            "Check the current state before trying again: the change may have been applied."
            if write
            else "Try again in a minute; if it persists, X Booker may be having an outage.",
        )
    if isinstance(exc, errors.ReissueRefusedError):
        return Advice(
            "The bot holds back from issuing refresh tokens more than once a minute.",
            "Wait a minute and try again; if it recurs, another process is using the same "
            "delegated app.",
        )
    if isinstance(exc, errors.TransportError):
        return Advice(
            "X Booker could not be reached, or its answer was not usable.",
            "Try again in a minute; check XBOOKER_BASE_URL and the network if it persists.",
        )
    return Advice("X Booker refused the request.", "Read X Booker's message above.")
