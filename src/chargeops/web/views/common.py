"""What several pages share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.access import Permission, Principal
from chargeops.web.auth import Viewer

VisibleTags = Callable[[AsyncSession, Principal, Permission], Awaitable[frozenset[str] | None]]


async def visible_id_tags(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    permission: Permission = Permission.SESSIONS_READ,
) -> frozenset[str] | None:
    """The tokens (lower case) whose records the viewer sees; None: all. The same rule
    as the API's (the composition root says how tokens are owned)."""
    visible: VisibleTags = request.app.state.visible_id_tags
    return await visible(db, viewer.principal, permission)
