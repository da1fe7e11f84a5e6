"""The regional Order Management teams, in a module of their own.

A region is chosen on the command line (`om queue --region`, `om kpi
--region`) before anything else is loaded, so its enum lives apart from
the pydantic models: `om --help` names the choices without building them.
`domain.models.Region` is this same class.
"""

from __future__ import annotations

from enum import StrEnum


class Region(StrEnum):
    """A regional Order Management team. AMER includes LATAM."""

    AMER = "AMER"
    EMEA = "EMEA"
    APAC = "APAC"

    @classmethod
    def _missing_(cls, value: object) -> Region | None:
        """`Region("emea")` is EMEA: people type regions in any case (on the
        command line, in `?region=`), and pydantic consults this too, so the
        API accepts them alike. Values stored or sent stay upper case."""
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None
