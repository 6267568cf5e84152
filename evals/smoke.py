"""Eight questions with one well-known answer each, for checks that need a handful of
real questions rather than a whole suite (the UI concurrency test and benchmark)."""

from __future__ import annotations

SMOKE: list[tuple[str, str]] = [
    ("How many countries does the TIP Report cover today?", "188"),
    ("How much has the TIP Office awarded in grants?", "$200 million"),
    ("When was the first CPC Partnership signed?", "June 2015"),
    ("Who leads the TIP Office?", "Susan Coppedge"),
    ("How many pieces of anti-trafficking legislation have been passed since 2009?", "194"),
    ("How many countries did the TIP Report cover in 2008?", "154"),
    ("How many foreign counterparts has the International Law Enforcement Academy trained?", "30,000"),
    ("In what year did the Bureau of Diplomatic Security establish its anti-trafficking unit?", "2011"),
]
