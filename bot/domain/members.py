"""What a member's record implies, beside the roster itself: whether their notices are read aloud."""

from __future__ import annotations

from models import Member

# DOMAIN.md, elderly users: from this age, notices come as text and voice unless the member says otherwise.
VOICE_AGE = 70


def voice_on(member: Member, this_year: int) -> bool:
    """Voice pushes: the member's own choice, else the roster's, else by age (70 or more: DOMAIN.md)."""
    if member.voice_mode is not None:
        return member.voice_mode
    return member.birth_year is not None and this_year - member.birth_year >= VOICE_AGE
