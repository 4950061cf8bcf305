"""``GET /admin/audit.csv``: admins only (the session cookie, checked in the database), the page's
filters, an attachment, and the export itself recorded in the audit log."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from medianest import api
from medianest.models import AuditLog, Role
from tests.factories import make_audit, make_session, make_user

T0 = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)


def _client(cookie: str | None = None) -> httpx.AsyncClient:
    app = api.security_middleware(api.build_api())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             cookies={api.SESSION_COOKIE: cookie} if cookie else None)


async def test_only_an_admin_gets_the_csv_with_the_pages_filters(db):
    admin = make_user(db, username="alice", role=Role.ADMIN)
    member = make_user(db, username="bob")
    await db.flush()
    for i in range(5):
        make_audit(db, "login.plex", actor=member, target=f"user:{member.id}", created_at=T0 + timedelta(days=i))
    make_audit(db, "user.suspend", actor=admin, target=f"user:{member.id}", created_at=T0)
    admin_cookie = await make_session(db, admin)
    member_cookie = await make_session(db, member)
    await db.commit()

    async with _client() as anonymous:
        assert (await anonymous.get("/admin/audit.csv")).status_code == 401
    async with _client(member_cookie) as as_member:
        refused = await as_member.get("/admin/audit.csv")
        assert refused.status_code == 403 and "login.plex" not in refused.text
    async with _client(admin_cookie) as as_admin:
        assert (await as_admin.get("/admin/audit.csv", params={"action": "group:nope"})).status_code == 400
        response = await as_admin.get("/admin/audit.csv", params={
            "action": "login.plex", "user": str(member.id), "from": "2025-03-30", "to": "2025-03-31",
            "tz": "Europe/Paris"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="medianest-audit-')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][1] == "Time (Europe/Paris)"
    assert [r[0] for r in rows[1:]] == ["2025-03-31T12:00:00Z", "2025-03-30T12:00:00Z"]

    exports = (await db.exec(select(AuditLog).where(AuditLog.action == "audit.exported"))).all()
    assert len(exports) == 1 and exports[0].actor_user_id == admin.id
    assert exports[0].details["filter"] == "login.plex" and exports[0].details["time_zone"] == "Europe/Paris"
