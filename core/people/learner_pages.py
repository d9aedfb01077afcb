"""Pages of members as learners: a member's own page (/me) and activating an invitation code
(/activate, made for a phone)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from core.api import CurrentUser, OptionalUser, SessionDep, client_address, verify_csrf
from core.errors import InvalidInput, NotFound, TemporaryError
from core.i18n import N_, error_text, gettext
from core.people.api import reader_locale
from core.people.checkin import checkin_code, checkin_qr_svg
from core.people.errors import AttemptsLocked
from core.people.forms import redirect, render
from core.people.learner_api import activate
from core.people.logins import member_of, renew_checkin_code, set_email
from core.people.models import User
from core.people.passwords import MIN_PASSWORD_LENGTH
from core.people.schemas import Activation

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])


def _own_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    member = member_of(session=session, user=user)
    if member is None:
        raise NotFound(N_("Your account is not linked to a member record."))
    context = {
        "user": user,
        "member": member,
        "email": user.email,
        "error": error,
        "done": request.query_params.get("done"),
        # The roll call at a site's group sessions: the code, and the same as a QR code.
        "checkin_code": checkin_code(member.id, member.checkin_generation),
        "checkin_qr": checkin_qr_svg(
            member.id,
            member.checkin_generation,
            title=gettext(reader_locale(request), N_("My check-in QR code")),
        ),
    }
    return render(request, "people/me.html", context, status=status)


@router.get("/me")
def own_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The member's own record: name, organisation, masked ID number, date of joining, and
    (filled by the credits work) their studies."""
    return _own_page(request, session, user)


@router.post("/me/checkin")
def own_checkin_code(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Renew one's check-in code (when others have seen it)."""
    renew_checkin_code(session=session, user=user, address=client_address(request))
    return redirect("/me?done=checkin#my-checkin")


@router.post("/me/email")
def own_email(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    email: Annotated[str, Form()] = "",
) -> Response:
    """Set or clear one's e-mail address."""
    try:
        set_email(session=session, user=user, email=email[:300], address=client_address(request))
    except InvalidInput as exc:
        session.rollback()
        return _own_page(
            request, session, user, error=error_text(reader_locale(request), exc), status=400
        )
    return redirect("/me?done=saved")


def _activate_page(
    request: Request,
    user: User | None,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": user,
        "values": values or {"code": request.query_params.get("code", "")[:40]},
        "error": error,
        "min_length": MIN_PASSWORD_LENGTH,
    }
    response = render(request, "people/activate.html", context, status=status)
    if status == 429:
        response.headers["Retry-After"] = "60"
    return response


@router.get("/activate")
def activate_page(request: Request, user: OptionalUser) -> Response:
    """The form a member opens on their phone to turn an invitation code into a login."""
    return _activate_page(request, user)


@router.post("/activate")
async def activate_submit(
    request: Request,
    user: OptionalUser,
    code: Annotated[str, Form()] = "",
    id_number: Annotated[str, Form()] = "",
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
) -> Response:
    """Activate the code; on success the member is logged in and sees their own page."""
    values = {"code": code[:40], "login": login[:80]}
    locale = reader_locale(request)
    try:
        if password != password_again:
            raise InvalidInput(N_("The two passwords differ."))
        form = Activation(
            code=code[:40], id_number=id_number[:40], login=login[:80], password=password[:256]
        )
        await activate(request, form)
    except ValidationError:
        message = gettext(locale, N_("Fill in every field."))
        return _activate_page(request, user, values=values, error=message, status=400)
    except AttemptsLocked as exc:
        return _activate_page(
            request, user, values=values, error=error_text(locale, exc), status=429
        )
    except (InvalidInput, TemporaryError) as exc:
        status = 503 if isinstance(exc, TemporaryError) else 400
        return _activate_page(
            request, user, values=values, error=error_text(locale, exc), status=status
        )
    return redirect("/me?done=activated")
