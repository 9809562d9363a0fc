"""``/api/v1/users``, ``/api/v1/organizations`` and ``/api/v1/api-keys``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["users"])
