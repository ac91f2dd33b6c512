"""Every printed document's layout: its template rendered by the product's one Jinja2 environment
(dunning.documents.rendering.template_environment: sandboxed, autoescaped, strict), then laid out
with reportlab from a small HTML subset, so a document's HTML and its PDF come from one template
and cannot disagree. The subset:

- blocks: ``p h1 h2 h3 li td th``; containers: ``html body header section div ul ol table thead
  tbody tfoot tr``; ``footer`` is repeated at the foot of every page; ``hr``
- inline: ``strong b em i small code span a br`` (a link prints its text)
- ``<col width="N%">`` sets table column widths; ``colspan`` spans cells
- classes that change the layout: ``sender recipient place-date mention subject signature small
  muted num center`` on blocks; ``plain boxed`` on tables; ``keep`` and ``page-break`` on divs.
  Other classes only style the HTML for a browser.
Anything else is refused, so a template cannot silently lose text on paper.

Fonts: reportlab's standard Helvetica, whose WinAnsi encoding has '€', French accents and
typographic quotes, so no font file ships with the product. Characters outside it are mapped to
the nearest printable one, or refused with the code point named.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any, Sequence
from xml.sax.saxutils import escape as _xml_escape

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

from dunning.documents.rendering import RenderingError, template_environment

__all__ = ["DocumentError", "render_html", "html_to_pdf"]


class DocumentError(RenderingError):
    """A document could not be laid out: a template outside the PDF subset, or unprintable text."""


# --- templates ------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _environment(templates_dir: str) -> SandboxedEnvironment:
    return template_environment(Path(templates_dir))


def render_html(templates_dir: Path, template_name: str, variables: dict[str, Any], who: str) -> str:
    """One document template rendered; a template or data error is a RenderingError naming `who`."""
    env = _environment(str(Path(templates_dir).resolve()))
    try:
        return env.get_template(template_name).render(variables)
    except (TemplateError, ValueError, TypeError) as exc:
        # Opaque ids only: debtor names stay out of logs and error trackers.
        raise RenderingError(f"{template_name} failed for {who}: {type(exc).__name__}: {exc}") from exc


# --- HTML subset to PDF ---------------------------------------------------------------------------

_PAGE = {"pagesize": A4, "leftMargin": 20 * mm, "rightMargin": 20 * mm, "topMargin": 16 * mm, "bottomMargin": 22 * mm}
# Where a right-hand window envelope (DL, C5/6) shows the address: about 110 mm from the left edge.
_WINDOW_INDENT = 90 * mm

_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13.5, spaceAfter=6)
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=9, leading=11.5, spaceAfter=0)
_TAG_STYLES = {
    "p": _BODY,
    "h1": ParagraphStyle("h1", parent=_BODY, fontName="Helvetica-Bold", fontSize=15, leading=19, spaceBefore=2, spaceAfter=8),
    "h2": ParagraphStyle("h2", parent=_BODY, fontName="Helvetica-Bold", fontSize=12, leading=15, spaceBefore=10, spaceAfter=4),
    "h3": ParagraphStyle("h3", parent=_BODY, fontName="Helvetica-Bold", fontSize=10.5, leading=13.5, spaceBefore=6, spaceAfter=3),
    "li": ParagraphStyle("li", parent=_BODY, leftIndent=14, bulletIndent=3, spaceAfter=2),
    "td": _CELL,
    "th": ParagraphStyle("th", parent=_CELL, fontName="Helvetica-Bold"),
}
_CLASS_STYLES: dict[str, dict[str, Any]] = {
    "sender": {"fontSize": 9, "leading": 12, "spaceAfter": 0},
    "recipient": {"leftIndent": _WINDOW_INDENT, "fontSize": 10.5, "leading": 14, "spaceBefore": 9 * mm, "spaceAfter": 9 * mm},
    "place-date": {"leftIndent": _WINDOW_INDENT, "spaceAfter": 6 * mm},
    "mention": {"fontName": "Helvetica-Bold", "spaceAfter": 3 * mm},
    "subject": {"fontName": "Helvetica-Bold", "spaceAfter": 5 * mm},
    "signature": {"leftIndent": _WINDOW_INDENT, "spaceBefore": 6 * mm},
    "small": {"fontSize": 8.5, "leading": 11},
    "muted": {"textColor": colors.HexColor("#444444")},
    "num": {"alignment": TA_RIGHT},
    "center": {"alignment": TA_CENTER},
}
_INLINE = {"strong": "b", "b": "b", "em": "i", "i": "i", "small": 'font size="8"', "code": 'font face="Courier"',
           "span": None, "a": None}
_BLOCKS = {"p", "h1", "h2", "h3", "li", "td", "th"}
_CONTAINERS = {"html", "body", "header", "section", "div", "ul", "ol", "footer"}
_TABLE_PARTS = {"thead": "head", "tbody": "body", "tfoot": "foot"}
_SKIPPED = {"style", "title"}           # not printed (the title becomes the PDF's metadata)
_TRANSPARENT = {"head", "colgroup"}     # only their children matter
_VOID = {"br", "hr", "col", "meta", "link"}

# Characters the WinAnsi fonts lack, mapped to one they have. Babel puts U+202F in French amounts.
_SUBSTITUTES = {
    "\u202f": "\u00a0", "\u2007": "\u00a0", "\u2009": " ", "\u200a": " ", "\u2002": " ", "\u2003": " ",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-", "\u2032": "'", "\u2033": '"',
    "\u0141": "L", "\u0142": "l", "\u0110": "D", "\u0111": "d", "\u0131": "i",
}


def _printable(text: str, who: str) -> str:
    out = []
    for ch in text:
        ch = _SUBSTITUTES.get(ch, ch)
        if _in_winansi(ch):
            out.append(ch)
            continue
        # 'ő' -> 'o', 'ą' -> 'a': the base letter reads better than a missing glyph.
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and all(_in_winansi(c) for c in base):
            out.append(base)
            continue
        raise DocumentError(f"{who}: character U+{ord(ch):04X} ({unicodedata.name(ch, '?')}) cannot be printed")
    return "".join(out)


def _in_winansi(ch: str) -> bool:
    if ch in "\n\t":
        return True
    try:
        return ord(ch.encode("cp1252")) >= 0x20
    except UnicodeEncodeError:
        return False


@dataclass
class _Table:
    classes: set[str]
    widths: list[float] = field(default_factory=list)         # percentages from <col width>
    rows: list[list[Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)            # head | body | foot, per row
    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (row, first column, last column)
    part: str = "body"


@dataclass
class _Block:
    tag: str
    classes: list[str]
    markup: list[str] = field(default_factory=list)
    colspan: int = 1
    bullet: str | None = None


class _Layout(HTMLParser):
    """Reads the HTML subset (see the module docstring) into reportlab flowables."""

    def __init__(self, width: float, who: str) -> None:
        super().__init__(convert_charrefs=True)
        self.width, self.who = width, who
        self.title = ""
        self.meta: dict[str, str] = {}
        self.lang: str | None = None
        self.footer: list[Flowable] = []
        self._containers: list[tuple[str, list[str], list[Flowable]]] = [("document", [], [])]
        self._block: _Block | None = None
        self._inline: list[str] = []
        self._table: _Table | None = None
        self._skipping: list[str] = []
        self._list_counters: list[int | None] = []

    @property
    def story(self) -> list[Flowable]:
        return self._containers[0][2]

    def _fail(self, message: str) -> DocumentError:
        line, column = self.getpos()
        return DocumentError(f"{self.who}: line {line}, column {column}: {message}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if self._skipping:
            if tag not in _VOID:
                self._skipping.append(tag)
            return
        if tag == "meta":
            if "name" in attributes:
                self.meta[attributes["name"]] = attributes.get("content", "")
            return
        if tag in _SKIPPED:
            self._skipping.append(tag)
            return
        if tag in _TRANSPARENT:
            return
        if self._block is not None:
            self._start_inline(tag)
            return
        if tag == "html":
            self.lang = attributes.get("lang")
        if tag in _CONTAINERS:
            self._containers.append((tag, classes, []))
            if tag in ("ul", "ol"):
                self._list_counters.append(0 if tag == "ol" else None)
        elif tag == "hr":
            self._flow(HRFlowable(width="100%", thickness=0.5, color=colors.grey, spaceBefore=2 * mm, spaceAfter=2 * mm))
        elif tag == "table":
            if self._table is not None:
                raise self._fail("nested tables are not supported")
            self._table = _Table(set(classes))
        elif tag in _TABLE_PARTS:
            self._in_table(tag).part = _TABLE_PARTS[tag]
        elif tag == "col":
            width = attributes.get("width", "").rstrip("%")
            try:
                self._in_table(tag).widths.append(float(width))
            except ValueError:
                raise self._fail(f'<col> needs width="N%", got {attributes.get("width")!r}') from None
        elif tag == "tr":
            table = self._in_table(tag)
            table.rows.append([])
            table.kinds.append(table.part)
        elif tag in _BLOCKS:
            block = _Block(tag, classes)
            if tag in ("td", "th"):
                self._in_table(tag)
                colspan = attributes.get("colspan") or "1"
                if not colspan.isdigit() or int(colspan) < 1:
                    raise self._fail(f"colspan must be a positive number, got {colspan!r}")
                block.colspan = int(colspan)
            if tag == "li":
                if not self._list_counters:
                    raise self._fail("<li> outside <ul> or <ol>")
                counter = self._list_counters[-1]
                if counter is None:
                    block.bullet = "\u2022"
                else:
                    self._list_counters[-1] = counter + 1
                    block.bullet = f"{counter + 1}."
            self._block = block
        elif tag == "br":
            pass  # a line break between blocks is layout the styles already give
        else:
            raise self._fail(f"<{tag}> is not part of the PDF template subset")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            self._skipping.pop()
            return
        if tag in _VOID or tag in _TRANSPARENT:
            return
        block = self._block
        if block is not None:
            if tag == block.tag:
                self._end_block(block)
            else:
                self._end_inline(tag)
            return
        if tag in _CONTAINERS:
            name, classes, flowables = self._containers.pop()
            if name != tag:
                raise self._fail(f"</{tag}> closes <{name}>")
            if tag in ("ul", "ol"):
                self._list_counters.pop()
            if tag == "footer":
                self.footer.extend(flowables)
            elif "page-break" in classes:
                self._flow(PageBreak())
            elif "keep" in classes:
                self._flow(KeepTogether(flowables))
            else:
                for flowable in flowables:
                    self._flow(flowable)
        elif tag == "table":
            table = self._in_table(tag)
            self._table = None
            self._flow(self._build_table(table))
        elif tag in _TABLE_PARTS:
            self._in_table(tag).part = "body"

    def handle_data(self, data: str) -> None:
        if self._skipping:
            if self._skipping[-1] == "title":
                self.title += data
            return
        if self._block is None:
            if data.strip():
                raise self._fail(f"text outside a block: {data.strip()[:40]!r}")
            return
        self._block.markup.append(_xml_escape(_printable(data, self.who)))

    def close(self) -> None:
        super().close()
        if self._block is not None or self._table is not None or len(self._containers) > 1:
            raise self._fail("the document ends inside an open element")

    # --- helpers

    def _in_table(self, tag: str) -> _Table:
        if self._table is None:
            raise self._fail(f"<{tag}> outside a <table>")
        return self._table

    def _start_inline(self, tag: str) -> None:
        assert self._block is not None
        if tag == "br":
            self._block.markup.append("<br/>")
            return
        if tag not in _INLINE:
            raise self._fail(f"<{tag}> inside <{self._block.tag}> is not supported")
        self._inline.append(tag)
        if _INLINE[tag]:
            self._block.markup.append(f"<{_INLINE[tag]}>")

    def _end_inline(self, tag: str) -> None:
        assert self._block is not None
        if not self._inline or self._inline[-1] != tag:
            raise self._fail(f"</{tag}> does not close the open inline element")
        self._inline.pop()
        markup = _INLINE[tag]
        if markup:
            self._block.markup.append(f"</{markup.split()[0]}>")

    def _end_block(self, block: _Block) -> None:
        if self._inline:
            raise self._fail(f"</{block.tag}> with <{self._inline[-1]}> still open")
        self._block = None
        paragraph = Paragraph("".join(block.markup).strip(), self._style(block.tag, block.classes),
                              bulletText=block.bullet)
        if block.tag in ("td", "th"):
            table = self._in_table(block.tag)
            if not table.rows:
                raise self._fail(f"<{block.tag}> outside a <tr>")
            row = table.rows[-1]
            if block.colspan > 1:
                table.spans.append((len(table.rows) - 1, len(row), len(row) + block.colspan - 1))
            row.append(paragraph)
            row.extend([""] * (block.colspan - 1))
        else:
            self._flow(paragraph)

    def _flow(self, flowable: Flowable) -> None:
        self._containers[-1][2].append(flowable)

    def _style(self, tag: str, classes: list[str]) -> ParagraphStyle:
        overrides: dict[str, Any] = {}
        for name in classes:
            overrides.update(_CLASS_STYLES.get(name, {}))
        base = _TAG_STYLES[tag]
        if not overrides:
            return base
        return ParagraphStyle(f"{tag}.{'.'.join(classes)}", parent=base, **overrides)

    def _build_table(self, table: _Table) -> Table:
        if not table.rows:
            raise self._fail("a table without rows")
        columns = max(len(row) for row in table.rows)
        rows = [row + [""] * (columns - len(row)) for row in table.rows]
        percents = table.widths or [100.0 / columns] * columns
        if len(percents) != columns:
            raise self._fail(f"{len(percents)} <col> widths for {columns} columns")
        total = sum(percents)
        widths = [self.width * share / total for share in percents]
        heads = sum(1 for kind in table.kinds if kind == "head")
        plain = "plain" in table.classes
        pad = 2 if plain else 3
        commands: list[tuple[Any, ...]] = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), pad),
            ("BOTTOMPADDING", (0, 0), (-1, -1), pad + 1),
        ]
        for index, kind in enumerate(table.kinds):
            if kind == "head":
                commands.append(("BACKGROUND", (0, index), (-1, index), colors.HexColor("#e6e6e6")))
            elif kind == "foot":
                commands.append(("LINEABOVE", (0, index), (-1, index), 0.8, colors.black))
            elif not plain:
                commands.append(("LINEBELOW", (0, index), (-1, index), 0.25, colors.HexColor("#b0b0b0")))
        if "boxed" in table.classes:
            commands.append(("BOX", (0, 0), (-1, -1), 0.8, colors.black))
        for row, first, last in table.spans:
            commands.append(("SPAN", (first, row), (last, row)))
        flowable = Table(rows, colWidths=widths, repeatRows=heads, hAlign="LEFT", spaceBefore=2 * mm, spaceAfter=4 * mm)
        flowable.setStyle(TableStyle(commands))
        return flowable


class _NumberedCanvas(Canvas):
    """Holds pages back until the end so each can say 'page n/total' (only when there are several)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            if total > 1:
                self.setFont("Helvetica", 8)
                self.drawRightString(A4[0] - _PAGE["rightMargin"], 7 * mm, f"{self._pageNumber}/{total}")
            super().showPage()
        super().save()


def html_to_pdf(html: str, who: str, annexes: Sequence[str] = ()) -> bytes:
    """One PDF; each annex (a whole HTML document) starts on a new page under the main footer."""
    width = A4[0] - _PAGE["leftMargin"] - _PAGE["rightMargin"]
    layout = _Layout(width, who)
    layout.feed(html)
    layout.close()
    if not layout.story:
        raise DocumentError(f"{who}: the template produced no content")
    story = list(layout.story)
    for annex_html in annexes:
        annex = _Layout(width, who)
        annex.feed(annex_html)
        annex.close()
        story += [PageBreak(), *annex.story]
    buffer = BytesIO()
    # invariant: no creation date nor random id in the file, so the same letter always has the
    # same sha256 and a rerun can be matched with what the ledger recorded.
    document = SimpleDocTemplate(
        buffer, title=_printable(layout.title.strip(), who), author=layout.meta.get("author", ""),
        subject=layout.meta.get("subject", ""), creator="dunning", lang=layout.lang, invariant=1, **_PAGE,
    )
    footer = layout.footer

    def draw_footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        y = 11 * mm
        for paragraph in reversed(footer):
            _, height = paragraph.wrap(doc.width, doc.bottomMargin)
            paragraph.drawOn(canvas, doc.leftMargin, y)
            y += height
        canvas.restoreState()

    document.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()
