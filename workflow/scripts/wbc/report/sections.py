"""The report's sections, in page order: one list that the report rule's inputs, the
page's navigation, the section numbers and the assembly order all come from. A new
section is a module (``wbc.report.<module>``), a template, a caption, a rule
``report_<id>`` whose output ``html`` is its fragment, and one entry here.

Standard library only: the Snakefile reads it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    id: str  # the rule report_<id>, the fragment's name, the page anchor (- for _)
    title: str
    numbered: bool = True  # the headline is not
    per_model: bool = False  # one fragment per reported model

    @property
    def anchor(self) -> str:
        """The page anchor: the id with dashes; per-model sections gather under <id>s."""
        return self.id.replace("_", "-") + ("s" if self.per_model else "")


SECTIONS = (
    Section("headline", "Headline", numbered=False),
    Section("dataset", "Dataset"),
    Section("comparison", "Comparison"),
    Section("model", "Per model", per_model=True),
    Section("protocols", "What the protocols mean"),
    Section("run_facts", "Run facts"),
)


def numbers() -> dict[str, str]:
    """Section id -> its number on the page ('' for the headline)."""
    out, k = {}, 0
    for section in SECTIONS:
        if section.numbered:
            k += 1
        out[section.id] = str(k) if section.numbered else ""
    return out


def heading(section_id: str) -> str:
    """``2. Comparison``: the <h2> and the navigation say the same."""
    section = next(s for s in SECTIONS if s.id == section_id)
    number = numbers()[section_id]
    return f"{number}. {section.title}" if number else section.title


def anchor(section_id: str) -> str:
    return next(s for s in SECTIONS if s.id == section_id).anchor
