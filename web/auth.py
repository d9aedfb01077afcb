"""Log in and out with a signed session cookie."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from core.api import SessionDep, verify_csrf
from core.people.service import authenticate

router = APIRouter(dependencies=[Depends(verify_csrf)])


def _safe_next(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    """The login form."""
    return request.app.state.templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None, "user": None}
    )


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    login: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password and start a session (a fresh one, against session fixation)."""
    user = authenticate(session=session, login=login, password=password)
    if user is None:
        return request.app.state.templates.TemplateResponse(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "bad_login", "user": None},
            status_code=401,
        )
    request.session.clear()
    request.session["user_id"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    return RedirectResponse("/", status_code=303)
