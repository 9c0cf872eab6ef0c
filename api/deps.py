"""Typed dependencies: routes declare what they need; the app builds it in `lifespan`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from store import Settings, Store


# async: reading app state needs no worker thread (sync dependencies each cost a thread hop)
async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
