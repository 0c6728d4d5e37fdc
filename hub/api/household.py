"""Household settings and its dead letters."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import CallerDep, SessionDep
from hub.api.errors import BODY, errors
from hub.api.schemas import DeadLetterOut, HouseholdOut, HouseholdPatch
from hub.services import households
from hub.store import repos

router = APIRouter(prefix="/api/v1/household", tags=["household"], responses=errors(401))


@router.get("", response_model=HouseholdOut)
def get_household(caller: CallerDep) -> HouseholdOut:
    """The caller's household settings."""
    return HouseholdOut.model_validate(caller.household)


@router.patch("", response_model=HouseholdOut, responses=errors(*BODY))
def patch_household(body: HouseholdPatch, caller: CallerDep, session: SessionDep) -> HouseholdOut:
    """Change cancel window, caps, price tolerance, order protection or scan mode."""
    household = households.update_settings(session, caller.household, body.model_dump(exclude_unset=True))
    return HouseholdOut.model_validate(household)


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def dead_letters(caller: CallerDep, session: SessionDep) -> list[DeadLetterOut]:
    """Messages from the household's devices that were not accepted, with the reason."""
    ids = [d.id for d in repos.household_devices(session, caller.household_id)]
    return [DeadLetterOut.model_validate(d) for d in repos.dead_letters(session, ids)]
