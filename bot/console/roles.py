"""Who may see which patient in the console.

Staff never see a patient who did not ask for a person, unless their role allows browsing:

    support    the handover queue, and only the patients whose handover is open or taken right now
    clinician  browses and searches every patient (read only), and takes handovers too
    admin      everything a clinician does, plus erasure and the audit log
"""
from __future__ import annotations

from storage import Database
from storage.domain import StaffAccount

ROLES = ("support", "clinician", "admin")
BROWSING_ROLES = frozenset({"clinician", "admin"})


def may_browse(staff: StaffAccount) -> bool:
    return staff.role in BROWSING_ROLES


async def may_see_patient(db: Database, staff: StaffAccount, user_id: int) -> bool:
    """A browsing role sees everyone; anyone else only a patient who asked for a person and is still waiting or
    being answered."""
    return may_browse(staff) or await db.handovers.active_handover(user_id) is not None
