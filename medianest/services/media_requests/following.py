"""Following a title somebody else requested (told when it is available, see ``sync``)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ...errors import NotFound, ValidationFailed
from ...models import RequestFollow
from .. import notifications
from ..auth import CurrentUser
from .common import Draft


async def follow(session: AsyncSession, *, user: CurrentUser, draft: Draft) -> str:
    if draft.media_type not in ("movie", "tv") or draft.tmdb_id <= 0:
        raise ValidationFailed("That title cannot be followed.")
    existing = (await session.exec(select(RequestFollow).where(
        RequestFollow.user_id == user.id, RequestFollow.media_type == draft.media_type,
        RequestFollow.tmdb_id == draft.tmdb_id))).first()
    if existing is not None:
        return f"You already follow {existing.title}."
    session.add(RequestFollow(user_id=user.id, media_type=draft.media_type, tmdb_id=draft.tmdb_id,
                              title=" ".join(draft.title.split())[:512] or f"TMDB {draft.tmdb_id}",
                              year=draft.year, poster_path=draft.poster_path))
    await session.commit()
    await notifications.announce([user.id], reason="follow")
    return f"You will be told when {draft.title} is available."


async def unfollow(session: AsyncSession, *, user: CurrentUser, follow_id: int) -> None:
    row = await session.get(RequestFollow, int(follow_id))
    if row is None or row.user_id != user.id:
        raise NotFound()
    await session.delete(row)
    await session.commit()
    await notifications.announce([user.id], reason="unfollow")


async def follows(session: AsyncSession, user_id: int) -> list[RequestFollow]:
    return list((await session.exec(select(RequestFollow).where(RequestFollow.user_id == user_id)
                                    .order_by(col(RequestFollow.id).desc()).limit(100))).all())
