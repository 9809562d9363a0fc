"""The web console at ``/``: server-rendered pages for staff and drivers."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the console's pages and assets on ``app`` (the API is already mounted)."""
