"""How the store tells a photo's masked copies and occluded template from its bare template.

:func:`faceprint.masked_enrol.masked_samples` gives them the photo's ``source`` (its hash) plus
``+masked-<style>``; only a masked-looking probe's routed comparison uses them
(:mod:`.masked_search`), every bare comparison skips them (:data:`BARE_ONLY`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .database import Database

__all__ = [
    "BARE_ONLY",
    "MASKED_SOURCE",
    "OCCLUDED_STYLE",
    "is_masked_source",
    "is_occluded_source",
    "photo_source",
    "subjects_with_copies",
]

#: What a masked copy's ``source`` carries after the photo's hash.
MASKED_SOURCE = "+masked-"
#: The "style" of the occluded template in its ``source`` (``<hash>+masked-occluded``).
OCCLUDED_STYLE = "occluded"
#: SQL condition on ``templates t``: the template is a bare one (no masked copy, no occluded template).
BARE_ONLY = f"t.source NOT LIKE '%{MASKED_SOURCE}%'"


def is_masked_source(source: str) -> bool:
    """Whether a template's ``source`` marks it as a masked copy (or the occluded template)."""
    return MASKED_SOURCE in source


def is_occluded_source(source: str) -> bool:
    """Whether a template's ``source`` marks it as the photo's occluded template."""
    return source.endswith(MASKED_SOURCE + OCCLUDED_STYLE)


def photo_source(source: str) -> str:
    """The enrolment photo a template belongs to (its own source for a bare template)."""
    return source.split(MASKED_SOURCE, 1)[0]


def subjects_with_copies(db: Database) -> frozenset[int]:
    """Ids of the subjects that hold masked copies (a model migration makes them again)."""
    with db.read() as conn:
        rows = conn.execute(f"SELECT DISTINCT subject_id FROM templates t WHERE NOT ({BARE_ONLY})").fetchall()
    return frozenset(int(r[0]) for r in rows)
