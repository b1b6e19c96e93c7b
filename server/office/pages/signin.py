"""Sign-in and sign-out pages: a pasted token becomes a session (see ``sessions``)."""

from __future__ import annotations

from litestar import get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from sync_protocol import Forbidden, InvalidValue, TooManyRequests, Unauthorized, locales
from sync_protocol.i18n import N_

from ...throttle import UNAUTHENTICATED_BODY_BYTES, client_address
from ..access import principal, server_state
from ..i18n import language_cookie
from ..security import SESSION_STORE, bind_csrf, rotate_session
from ..sessions import SESSION_DEVICE, sign_in
from ..worker import in_thread
from .common import AnyRequest, Page, home_for, render, safe_next


# --- sign-in ----------------------------------------------------------------------------------


@get("/login", opt={"public": True})
async def login_form(request: AnyRequest, next: FromQuery[str | None] = None) -> Page:
    return await render(request, "login.html", next=safe_next(next) or "", error="")


@post("/login", opt={"public": True}, status_code=200, request_max_body_size=UNAUTHENTICATED_BODY_BYTES)
async def login(request: AnyRequest) -> Page | Redirect:
    form = await request.form()
    token, target = str(form.get("token", "")), safe_next(str(form.get("next", "")))
    state = server_state(request)
    browser = f"office browser ({request.headers.get('user-agent', '')[:60]})"
    address = client_address(request)
    try:
        state.limiter.check(address, token)  # anyone may try: failures are counted (throttle.py)
        result = await in_thread(lambda: state.db.write(lambda c: sign_in(c, token, browser)))
    except TooManyRequests as exc:
        page = await render(request, "login.html", status=exc.status, next=target or "", error=exc.message)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except (Unauthorized, Forbidden) as exc:
        if isinstance(exc, Unauthorized):
            state.limiter.failed(address, token)
        return await render(request, "login.html", status=exc.status, next=target or "", error=exc.message)
    rotate_session(request)
    request.set_session({SESSION_DEVICE: result.principal.device_id})
    csrf = bind_csrf(request, state.secret, state.config.security.secure_cookies)  # this session's token
    await request.app.stores.get(SESSION_STORE).delete_expired()  # sessions of people who never signed out
    request.state["office_principal"] = result.principal
    home = target or home_for(result.principal.role)
    if result.new_device_token:
        page = await render(request, "enrolled.html", token=result.new_device_token, next=home)
        page.cookies.append(csrf)
        return page
    return Redirect(home, status_code=303, cookies=[csrf])


@post("/logout", opt={"public": True}, status_code=303)
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect("/office/login", status_code=303)


@get("/language", opt={"public": True})
async def choose_language(request: AnyRequest, to: FromQuery[str] = "", next: FromQuery[str | None] = None) -> Redirect:
    """The language switch on every page: remember the choice in a cookie, back to the page."""
    chosen = locales.supported(to)
    if chosen is None:
        raise InvalidValue(N_("language: one of {choices}", choices=", ".join(locales.SUPPORTED)), field="to")
    cookie = language_cookie(chosen, server_state(request).config.security.secure_cookies)
    return Redirect(safe_next(next) or "/office/", status_code=303, cookies=[cookie])


@get("/")
async def office_home(request: AnyRequest) -> Redirect:
    return Redirect(home_for(principal(request).role), status_code=303)
