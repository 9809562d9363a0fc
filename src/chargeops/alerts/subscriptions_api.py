"""Station subscriptions over HTTP: anyone signed in who may see stations asks to hear
when one (or one EVSE of it) is back in service, lists and cancels their own.

- ``POST /api/v1/stations/{station_id}/subscriptions`` (``{"evse_id": 2}`` or no body):
  201 with the new subscription; 200 with the one already waiting (asking twice is not
  an error); 409 when the station is in service now, saying what works; 404 for an
  unknown station or EVSE.
- ``GET /api/v1/me/subscriptions`` (``status=waiting|fulfilled``), newest first.
- ``DELETE /api/v1/me/subscriptions/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.exc import IntegrityError

from chargeops.alerts import subscriptions
from chargeops.alerts.channel_schemas import SubscriptionIn, SubscriptionOut
from chargeops.core.access import Permission, Principal
from chargeops.core.clock import utcnow
from chargeops.core.errors import Forbidden, Unauthorized
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work

router = APIRouter(tags=["notifications"])


def _user_of(principal: Principal) -> int:
    if not principal.user_id:
        raise Forbidden("this API key belongs to no user: use a user's login or key")
    return principal.user_id


async def _signed_in(request: Request) -> int:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("log in, or send an API key as 'Authorization: Bearer KEY'")
    return _user_of(principal)


Me = Annotated[int, Depends(_signed_in)]
Reader = Annotated[Principal, requires(Permission.STATIONS_READ)]


@router.post(
    "/stations/{station_id}/subscriptions",
    response_model=SubscriptionOut,
    status_code=201,
    summary="Be told once when this station (or one EVSE) is back in service",
    responses={
        200: {"description": "you were already waiting: that subscription"},
        404: {"description": "no such station, or no such EVSE"},
        409: {"description": "it is in service now: nothing to wait for"},
    },
)
async def subscribe(
    station_id: str,
    request: Request,
    response: Response,
    principal: Reader,
    body: SubscriptionIn | None = None,
) -> SubscriptionOut:
    user_id = _user_of(principal)
    evse_id = body.evse_id if body is not None else None
    now = utcnow()

    async def unit(w: Work) -> tuple[SubscriptionOut, bool]:
        row, created = await subscriptions.subscribe(w, user_id, station_id, evse_id, now=now)
        return SubscriptionOut.of(row), created

    try:
        out, created = await writer_of(request).submit(unit)
    except IntegrityError:
        # the same request at the same moment made it first: this one finds it
        out, created = await writer_of(request).submit(unit)
    if not created:
        response.status_code = 200
    return out


@router.get(
    "/me/subscriptions",
    response_model=list[SubscriptionOut],
    summary="Your station subscriptions, newest first (waiting and fulfilled)",
)
async def my_subscriptions(
    db: DbSession, user_id: Me, status: Literal["waiting", "fulfilled"] | None = None
) -> list[SubscriptionOut]:
    rows = await subscriptions.subscriptions_of(db, user_id, status=status)
    return [SubscriptionOut.of(row) for row in rows]


@router.delete(
    "/me/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Cancel one of your station subscriptions",
)
async def cancel_subscription(subscription_id: int, request: Request, user_id: Me) -> Response:
    await writer_of(request).submit(lambda w: subscriptions.cancel(w, user_id, subscription_id))
    return Response(status_code=204)
