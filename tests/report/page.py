"""What a report page shows, parsed with the standard library's HTML parser (as a browser's
tokenizer sees it: a tag in the data would be a tag here too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Mark:
    """A bar or a point: its figure, number, geometry and tooltip."""

    figure: str
    value: float
    attrs: dict[str, str]
    title: str = ""


@dataclass
class Page(HTMLParser):
    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)  # figure -> full label texts
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # section -> rows
    sections: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._section = ""
        self._figure = ""
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._title: list[str] | None = None
        self._owner: str = ""  # the element a <title> belongs to

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.attributes += [(k, v) for k, v in values.items()]
        if tag == "section":
            self._section = values["id"]
            self.sections.append(self._section)
        elif tag == "figure":
            self._figure = values["id"]
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("rect", "circle") and "data-value" in values:
            self.marks.append(Mark(self._figure, float(values["data-value"]), values))
        elif tag == "title" and self._stack:
            self._title = []
            self._owner = self._stack[-1]
        self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None
        elif tag == "title" and self._title is not None:
            text = "".join(self._title)
            if self._owner in ("rect", "circle") and self.marks:
                self.marks[-1].title = text
            elif self._owner == "text":
                self.labels.setdefault(self._figure, []).append(text)
            self._title = None
        elif tag == "figure":
            self._figure = ""

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)
        elif self._cell is not None:
            self._cell.append(data)

    def in_figure(self, figure: str) -> list[Mark]:
        return [m for m in self.marks if m.figure == figure]

    def body(self, section: str) -> list[list[str]]:
        """The rows of the section's table, without its header."""
        return self.tables[section][1:]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page
