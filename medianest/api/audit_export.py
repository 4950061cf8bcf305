"""``GET /admin/audit.csv``: the audit log as a CSV download, for admins only, with the filters of
the Audit page (``action``, ``user``, ``from``, ``to``, ``tz``; see ``services.audit_views``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from ..config import get_settings
from ..db import session_scope
from ..errors import NotAuthenticated, ValidationFailed
from ..models import utcnow
from ..services import audit, audit_views, auth
from ..web import SESSION_COOKIE, client_ip_from, cookie_value


async def audit_csv(request: Request) -> Response:
    """401 without a session, 403 for a member (or an admin who must first choose a password),
    400 for a filter the page would not send; otherwise the CSV as an attachment, newest first."""
    settings = get_settings()
    token = cookie_value(request.headers.get("cookie"), SESSION_COOKIE)
    query = request.query_params
    try:
        chosen = audit_views.parse_filter(action=query.get("action"), user=query.get("user"),
                                          date_from=query.get("from"), date_to=query.get("to"),
                                          time_zone=query.get("tz"))
    except ValidationFailed as exc:
        chosen = None
        refusal = exc.user_message
    try:
        async with session_scope() as session:
            user = await auth.resolve_session(session, token=token, settings=settings)
            if not user.is_admin or user.must_change_password:
                return PlainTextResponse("Only admins can export the audit log.", status_code=403)
            if chosen is None:
                return PlainTextResponse(refusal, status_code=400)
            peer = request.client.host if request.client else None
            await audit.record(session, "audit.exported", actor_user_id=user.id, target="audit_log",
                               client_ip=client_ip_from(peer, request.headers.get("x-forwarded-for"),
                                                        settings.trusted_proxy_hops),
                               filter=chosen.action, user=chosen.user_id,
                               date_from=chosen.date_from.isoformat() if chosen.date_from else None,
                               date_to=chosen.date_to.isoformat() if chosen.date_to else None,
                               time_zone=chosen.time_zone)
    except NotAuthenticated:
        return PlainTextResponse("Sign in as an admin to export the audit log.", status_code=401)
    filename = audit_views.csv_filename(utcnow())
    return StreamingResponse(audit_views.csv_chunks(session_scope, chosen), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="{filename}"',
                                      "cache-control": "no-store", "x-content-type-options": "nosniff"})
