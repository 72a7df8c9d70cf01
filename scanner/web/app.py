"""The review page's routes: login, the queue, one case, its image, reveal, decisions.

Every response carries ``Cache-Control: no-store`` and a strict CSP (no scripts at all, styles
and images from this origin only); every POST needs the session's CSRF token and, when the
browser sends one, this origin's ``Origin``. The database calls run in Starlette's thread pool.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reporting.access.accounts import LoginFailed
from reporting.matches.evidence_store import EvidenceUnavailable
from reporting.review.errors import AlreadyDecided, CaseNotFound, ExposureLimitReached, ReviewError
from reporting.review.values import DECIDED, Reviewer
from scanner.auth import ADMIN, REVIEW_READ, REVIEW_WRITE, effective_scopes
from scanner.web.images import NotAnImage, blurred_preview, original_png
from scanner.web.security import SecurityHeaders

if TYPE_CHECKING:
    from reporting.access.accounts import Accounts
    from reporting.access.sessions import SignedIn, WebSessions
    from reporting.matches.evidence_store import EvidenceStore
    from reporting.review.decisions import Decisions
    from reporting.review.exposure import ExposureLog
    from reporting.review.queue import ReviewQueue

HERE = Path(__file__).parent
SESSION_COOKIE = "hw_session"
LOGIN_COOKIE = "hw_login"
DECISIONS = ("confirm", "false_positive", "escalate")


@dataclass
class ReviewPage:
    queue: ReviewQueue
    decisions: Decisions
    exposure: ExposureLog
    accounts: Accounts
    evidence: EvidenceStore
    sessions: WebSessions
    daily_reveals: int
    secure_cookies: bool = False


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_web_app(page: ReviewPage) -> Starlette:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=env)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        response: Response = templates.TemplateResponse(request, name, context, status_code=status)
        return response

    def message(request: Request, status: int, text: str, who: SignedIn | None = None) -> Response:
        return render(request, "message.html", status, text=text, who=who)

    async def signed_in(request: Request, scope: str) -> SignedIn:
        who = await run_in_threadpool(page.sessions.get, request.cookies.get(SESSION_COOKIE, ""))
        if who is None:
            raise _Refused(401, "")
        if scope not in effective_scopes(who.scopes):
            raise _Refused(403, f"your role ({who.role}) does not allow this")
        return who

    async def posted(request: Request, who: SignedIn | None, expected: str = "") -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is not None and origin != _origin(request):
            raise _Refused(403, "this form was posted from another site")
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        token = expected or (who.csrf_token if who else "")
        if not token or not hmac.compare_digest(fields.get("csrf", ""), token):
            raise _Refused(403, "the form has expired; reload the page and try again")
        return fields

    async def guarded(request: Request, handler: Any) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except _Refused as refused:
            if refused.status == 401:
                return RedirectResponse("/login", status_code=303)
            return message(request, refused.status, str(refused))

    # --- login -------------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", csrf=token, error="")
        _cookie(response, LOGIN_COOKIE, token, page.secure_cookies, max_age=1800)
        return response

    async def login(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            fields = await posted(request, None, expected=request.cookies.get(LOGIN_COOKIE, ""))
            username = fields.get("username", "").strip()
            try:
                await run_in_threadpool(
                    page.accounts.authenticate, username, fields.get("password", ""), fields.get("code", "")
                )
            except LoginFailed:
                token = secrets.token_urlsafe(32)
                response = render(
                    request, "login.html", 401, csrf=token, error="Login failed. Check all three fields."
                )
                _cookie(response, LOGIN_COOKIE, token, page.secure_cookies, max_age=1800)
                return response
            client = request.client.host if request.client else ""
            cookie, _ = await run_in_threadpool(page.sessions.start, username, client)
            response = RedirectResponse("/", status_code=303)
            _cookie(response, SESSION_COOKIE, cookie, page.secure_cookies)
            response.delete_cookie(LOGIN_COOKIE, path="/")
            return response

        return await guarded(request, handle)

    async def logout(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            who = await signed_in(request, REVIEW_READ)
            await posted(request, who)
            await run_in_threadpool(page.sessions.end, request.cookies.get(SESSION_COOKIE, ""))
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response

        return await guarded(request, handle)

    # --- the queue and one case ----------------------------------------------------------------

    async def queue(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            who = await signed_in(request, REVIEW_READ)
            params = request.query_params
            state = params.get("state", "pending")
            try:
                result = await run_in_threadpool(
                    lambda: page.queue.page(
                        state=state,
                        customer_id=params.get("customer", ""),
                        list_name=params.get("list", ""),
                        newest_first=params.get("order") == "newest",
                        limit=50,
                        page_token=params.get("page", ""),
                    )
                )
            except ReviewError as exc:
                return message(request, 400, str(exc), who)
            return render(request, "queue.html", who=who, page=result, state=state, params=dict(params))

        return await guarded(request, handle)

    async def show_case(
        request: Request, who: SignedIn, match_id: int, status: int = 200, note: str = ""
    ) -> Response:
        try:
            case = await run_in_threadpool(page.queue.case, match_id, who.actor)
        except CaseNotFound as exc:
            return message(request, 404, str(exc), who)
        revealed, exposure = await run_in_threadpool(
            lambda: (
                page.exposure.revealed(match_id, who.actor),
                page.exposure.today(who.actor, page.daily_reveals),
            )
        )
        return render(
            request,
            "case.html",
            status,
            who=who,
            case=case,
            revealed=revealed,
            exposure=exposure,
            note=note or _done(request.query_params.get("done", "")),
            can_write=REVIEW_WRITE in effective_scopes(who.scopes),
            decided=case.state in DECIDED,
            admin=ADMIN in effective_scopes(who.scopes),
        )

    async def case_page(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            who = await signed_in(request, REVIEW_READ)
            return await show_case(request, who, _match_id(request))

        return await guarded(request, handle)

    # --- images ----------------------------------------------------------------------------------

    async def image(request: Request, original: bool) -> Response:
        who = await signed_in(request, REVIEW_READ)
        match_id = _match_id(request)
        if original and not await run_in_threadpool(page.exposure.revealed, match_id, who.actor):
            return Response("reveal the image first", status_code=403, media_type="text/plain")

        def load() -> bytes:
            # The audit record is committed before the evidence is read: no view goes unrecorded.
            page.exposure.record_image_view(match_id, who.actor, original)
            purpose = "review: revealed image" if original else "review: blurred preview"
            content = page.evidence.read(match_id, who.actor, purpose)
            return original_png(content) if original else blurred_preview(content)

        try:
            body = await run_in_threadpool(load)
        except (EvidenceUnavailable, NotAnImage) as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        return Response(body, media_type="image/png")

    async def blurred_image(request: Request) -> Response:
        return await guarded(request, lambda r: image(r, original=False))

    async def original_image(request: Request) -> Response:
        return await guarded(request, lambda r: image(r, original=True))

    # --- reveal and decide -----------------------------------------------------------------------

    async def reveal(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            who = await signed_in(request, REVIEW_WRITE)
            await posted(request, who)
            match_id = _match_id(request)
            try:
                await run_in_threadpool(page.exposure.reveal, match_id, who.actor, page.daily_reveals)
            except ExposureLimitReached as exc:
                return await show_case(request, who, match_id, 429, str(exc))
            except CaseNotFound as exc:
                return message(request, 404, str(exc), who)
            return RedirectResponse(f"/cases/{match_id}#evidence", status_code=303)

        return await guarded(request, handle)

    async def decide(request: Request) -> Response:
        async def handle(request: Request) -> Response:
            who = await signed_in(request, REVIEW_WRITE)
            fields = await posted(request, who)
            match_id = _match_id(request)
            decision = fields.get("decision", "")
            if decision not in DECISIONS:
                return message(request, 400, "choose confirm, false positive or escalate", who)
            reviewer = Reviewer(who.actor, ADMIN in effective_scopes(who.scopes))
            try:
                await run_in_threadpool(
                    page.decisions.decide, match_id, decision, reviewer, fields.get("note", "")
                )
            except AlreadyDecided as exc:
                return await show_case(request, who, match_id, 403, str(exc))
            except ReviewError as exc:
                return message(request, 400, str(exc), who)
            return RedirectResponse(f"/cases/{match_id}?done={decision}", status_code=303)

        return await guarded(request, handle)

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", queue, methods=["GET"]),
        Route("/cases/{match_id:int}", case_page, methods=["GET"]),
        Route("/cases/{match_id:int}/image", blurred_image, methods=["GET"]),
        Route("/cases/{match_id:int}/image/original", original_image, methods=["GET"]),
        Route("/cases/{match_id:int}/reveal", reveal, methods=["POST"]),
        Route("/cases/{match_id:int}/decide", decide, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def _match_id(request: Request) -> int:
    value: int = request.path_params["match_id"]
    return value


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _done(decision: str) -> str:
    return {
        "confirm": "Confirmed. The report is filed if the list's policy asks for review first.",
        "false_positive": "Marked false positive: the block is lifted, the customer told, the entry flagged.",
        "escalate": "Escalated: the case stays at the front of the queue.",
    }.get(decision, "")


def _cookie(response: Response, name: str, value: str, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )
