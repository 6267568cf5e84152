from pathlib import Path

import pytest

from evals.pdfs import text_pdf
from rag.corpus import LoadError, discover, display_path, load, parse_blocks
from tests.conftest import CORPUS, FACT_SHEET


@pytest.fixture(scope="module")
def fact_sheet():
    return load(FACT_SHEET, "corpus/combating-trafficking-in-persons.txt")


def all_text(doc) -> str:
    return "\n".join(b.text for b in doc.blocks)


def test_fact_sheet_title_is_recorded(fact_sheet):
    assert fact_sheet.title == "Combating Trafficking in Persons"


def test_navigation_lines_are_not_answerable_text(fact_sheet):
    text = all_text(fact_sheet)
    assert "2016 Findings on the Worst Forms of Child Labor Report" not in text
    assert not any(b.text == "Trafficking in Persons" for b in fact_sheet.blocks)


def test_photo_credit_is_dropped_but_caption_kept(fact_sheet):
    text = all_text(fact_sheet)
    assert "(AP Images)" not in text
    caption = [b for b in fact_sheet.blocks if b.kind == "caption"]
    assert [b.text for b in caption] == ["Half of the 20 million to 30 million trafficking victims are children."]


def test_repeated_page_header_is_not_a_block_or_heading(fact_sheet):
    assert all(b.text != "Combating Trafficking in Persons" for b in fact_sheet.blocks)
    assert all(b.heading != "" for b in fact_sheet.blocks)


def test_section_headings_are_metadata(fact_sheet):
    bullets = [b for b in fact_sheet.blocks if b.kind == "bullet"]
    assert bullets and bullets[0].heading == "3Ps: Prosecution, Protection, and Prevention"
    assert "3Ps: Prosecution" not in all_text(fact_sheet)


def test_bullets_and_curly_quotes_are_normalised(fact_sheet):
    text = all_text(fact_sheet)
    assert "\u2022" not in text and "\u2019" not in text and "\u201c" not in text
    assert "State Department's accomplishments" in text


def test_block_offsets_point_into_the_source(fact_sheet):
    for block in fact_sheet.blocks:
        source = fact_sheet.text[block.start : block.end]
        assert (
            " ".join(
                source.replace("\u2019", "'")
                .replace("\u201c", '"')
                .replace("\u201d", '"')
                .replace("\u2013", "-")
                .split()
            )
            == block.text
        )


def test_markdown_headings_and_bullets(tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text(
        "# Notes\n\n## Funding\n\n- The fund gave $5 million in 2020.\n- It ran 3 pilots.\n", encoding="utf-8"
    )
    doc = load(path, "notes.md")
    assert doc.title == "Notes"
    assert [(b.heading, b.text) for b in doc.blocks] == [
        ("Funding", "The fund gave $5 million in 2020."),
        ("Funding", "It ran 3 pilots."),
    ]


def test_html_drops_navigation_and_scripts(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Report</title><script>alert(1)</script></head><body>"
        "<nav><a href='/'>Home</a></nav><h1>Report</h1><h2>Results</h2>"
        "<p>The office trained 40 officers in 2019.</p><ul><li>It opened 2 posts.</li></ul>"
        "<footer>Copyright</footer></body></html>",
        encoding="utf-8",
    )
    doc = load(path, "page.html")
    text = all_text(doc)
    assert doc.title == "Report"
    assert "The office trained 40 officers in 2019." in text and "It opened 2 posts." in text
    assert "alert" not in text and "Home" not in text and "Copyright" not in text


def _tiny_pdf(text: str) -> bytes:
    return text_pdf([text])


def test_pdf_text_is_loaded(tmp_path: Path):
    path = tmp_path / "brief.pdf"
    path.write_bytes(_tiny_pdf("The program helped 120 survivors in 2018."))
    doc = load(path, "brief.pdf")
    assert "The program helped 120 survivors in 2018." in all_text(doc)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", b"\x00\x01\x02\x03" * 100, "binary"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "PDF"),
    ],
)
def test_bad_files_raise_a_clear_load_error(tmp_path: Path, name: str, content: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load(path, name)


def test_discover_finds_supported_files_and_survives_symlink_loops(tmp_path: Path):
    (tmp_path / "a.txt").write_text("A sentence here.", encoding="utf-8")
    (tmp_path / "skip.csv").write_text("x,y", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("B sentence here.", encoding="utf-8")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path / "sub", target_is_directory=True)
    names = sorted(p.name for p in discover([tmp_path]))
    assert names == ["a.txt", "b.md"]


def test_display_path_is_relative_to_the_corpus():
    assert display_path(FACT_SHEET, CORPUS) == "corpus/combating-trafficking-in-persons.txt"


def test_wrapped_prose_lines_are_joined_not_treated_as_navigation():
    text = "Title Line\n\nThe office trained officers\nacross many regions in 2019 and\nexpanded its work.\n"
    blocks, title = parse_blocks(text)
    assert title == "Title Line"
    assert [b.text for b in blocks] == [
        "The office trained officers across many regions in 2019 and expanded its work."
    ]


def test_fact_sheet_is_byte_identical_to_its_recorded_provenance():
    import hashlib
    import json

    sources = json.loads((CORPUS / "sources.json").read_text(encoding="utf-8"))
    entry = sources["combating-trafficking-in-persons.txt"]
    assert entry["publisher"] == "U.S. Department of State"
    assert hashlib.sha256(FACT_SHEET.read_bytes()).hexdigest() == entry["sha256"]


def test_html_text_outside_paragraph_tags_is_kept(tmp_path: Path):
    """DocBook HTML (the Debian handbook and many manuals) puts paragraphs in <div class="para">,
    and text often sits directly in a <div> or <li> beside nested blocks: all of it is content."""
    page = tmp_path / "chapter.html"
    page.write_text(
        "<html><body><div class='section'><h2>1.6. Lifecycle of a Release</h2>"
        "<div class='para'>A package migrates after at least 5 days spent in <em>Unstable</em>.</div>"
        "<div class='para'>Freeze time comes roughly every <strong>two years</strong>."
        "<div class='sidebar'><p>The release team decides.</p></div>"
        "It ends with the release.</div>"
        "<ul><li>first point<ul><li>nested point</li></ul></li></ul>"
        "<!-- a comment is not content --></div></body></html>",
        encoding="utf-8",
    )
    texts = [b.text for b in load(page, "chapter.html").blocks]
    joined = "\n".join(texts)
    assert "A package migrates after at least 5 days spent in Unstable." in texts
    assert "Freeze time comes roughly every two years." in joined and "It ends with the release." in joined
    assert "The release team decides." in joined and "nested point" in joined and "first point" in joined
    assert "comment" not in joined
