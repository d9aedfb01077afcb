"""JSON API of people and accounts."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from core.api import CurrentUser, RowId, client_address, unit_of_work, verify_csrf
from core.errors import PermissionDenied
from core.i18n import N_
from core.people import accounts, passwords
from core.security import password_slots

router = APIRouter(dependencies=[Depends(verify_csrf)])


@router.post("/api/users/{user_id}/password-reset", tags=["users"])
async def users_password_reset(
    user_id: RowId, request: Request, actor: CurrentUser
) -> JSONResponse:
    """Give a user a generated one-time password, shown in this response only; every session
    of theirs ends and they must choose their own password at the next login."""
    if not accounts.may_reset_passwords(actor):
        raise PermissionDenied(N_("Only administrators can reset passwords."))
    password = passwords.generate_password()
    password_hash = await password_slots().hash(password)
    user = await unit_of_work(
        lambda s: accounts.reset_password(
            session=s,
            actor=actor,
            user_id=user_id,
            password_hash=password_hash,
            address=client_address(request),
        )
    )
    return JSONResponse(
        {"id": user.id, "login": user.login, "password": password},
        headers={"Cache-Control": "no-store"},
    )
