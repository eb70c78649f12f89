"""A safe XML parser that remembers where every piece of text came from.

SSML and PLS documents are parsed with expat (``xml.parsers.expat``, the
parser under the standard library's ``xml.etree``; built into CPython and
Pyodide), driven directly so each event's position in the source is known:
``parse`` returns a small tree whose text runs carry their code-point span in
the submitted string, which is what captions map back to. ``xml.etree`` drops
positions, and ``xml.sax`` (which has a locator) imports ``urllib.request``
and the email package, a cost the api Worker's cold start would pay.

Safety, as ``defusedxml`` does it for the same parser: a document type
declaration is refused (so no entity can be declared, no external subset
loaded, no "billion laughs"), an entity declaration or an external entity
reference is refused should expat report one anyway, and parameter entities
are never parsed. Only the five predefined entities and character references
remain. Nesting deeper than ``MAX_DEPTH`` is refused (nothing legitimate
nests that deep, and the walkers recurse).

Errors are ``MarkupError`` with a 1-based line and column counted in
characters (a CR LF pair or a lone CR ends a line, as XML reads it).
"""

from __future__ import annotations

import bisect
import re
import xml.parsers.expat as expat

from shared.text.errors import MarkupError

__all__ = ["MAX_DEPTH", "Element", "TextRun", "parse", "position"]

MAX_DEPTH = 64
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
_SEPARATOR = "}"  # expat's namespace separator: "uri}local"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class TextRun:
    """Character data: ``value`` as the parser decoded it, from ``source[start:end]``.

    ``exact`` when ``value == source[start:end]`` (no character reference,
    entity or line-break normalization inside), so each character maps to
    one source character; otherwise the run maps to its span as a whole.
    """

    __slots__ = ("end", "exact", "start", "value")

    def __init__(self, value: str, start: int, end: int, exact: bool) -> None:
        self.value = value
        self.start = start
        self.end = end
        self.exact = exact

    def __repr__(self) -> str:
        return f"TextRun({self.value!r}, {self.start}, {self.end}, {self.exact})"


class Element:
    """An element: its local name, namespace, attributes (``xml:lang`` keeps its prefix) and children.

    ``start`` is the offset of its "<", ``end`` the offset after its end tag (or after "/>").
    """

    __slots__ = ("attrs", "children", "end", "namespace", "start", "tag")

    def __init__(self, tag: str, namespace: str | None, attrs: dict[str, str], start: int) -> None:
        self.tag = tag
        self.namespace = namespace
        self.attrs = attrs
        self.start = start
        self.end = 0
        self.children: list[Element | TextRun] = []

    def __repr__(self) -> str:
        return f"Element({self.tag!r}, {self.start}, {self.end})"

    def text(self) -> str:
        """Its character data, descendants included, in order."""
        return "".join(c.value if isinstance(c, TextRun) else c.text() for c in self.children)

    def runs(self) -> list[TextRun]:
        """Its text runs, descendants included, in order."""
        out: list[TextRun] = []
        for child in self.children:
            out.extend([child] if isinstance(child, TextRun) else child.runs())
        return out

    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]


class _Offsets:
    """UTF-8 byte offsets (what expat reports) -> code-point offsets, for increasing offsets."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._byte = 0
        self._char = 0

    def char(self, byte: int) -> int:
        if byte < self._byte:  # rare (an end tag's offset after a child's); recount from the start
            self._byte, self._char = 0, 0
        self._char += len(self._data[self._byte : byte].decode("utf-8", errors="replace"))
        self._byte = byte
        return self._char


def position(source: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of code-point ``offset`` in ``source``, as XML counts lines."""
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(source, 0, offset)]
    line = len(starts)
    return line, offset - starts[bisect.bisect_right(starts, offset) - 1] + 1


class _Refused(Exception):
    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset  # where in the source, when known better than the parser's position


def _name(raw: str) -> tuple[str | None, str]:
    if _SEPARATOR in raw:
        namespace, local = raw.rsplit(_SEPARATOR, 1)
        return namespace, local
    return None, raw


def parse(source: str) -> Element:
    """The root element of ``source`` (see the module doc); ``MarkupError`` when refused."""
    data = source.encode("utf-8", errors="surrogatepass")
    offsets = _Offsets(data)
    parser = expat.ParserCreate(encoding="utf-8", namespace_separator=_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    root: list[Element] = []

    def refuse(message: str, at: str | None = None) -> None:
        found = source.find(at) if at else -1
        raise _Refused(message, found if found >= 0 else None)

    def start(raw: str, attributes: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            refuse(f"elements nested more than {MAX_DEPTH} deep")
        namespace, tag = _name(raw)
        attrs: dict[str, str] = {}
        for key, value in attributes.items():
            ns, local = _name(key)
            attrs[f"xml:{local}" if ns == XML_NAMESPACE else local] = value
        element = Element(tag, namespace, attrs, offsets.char(parser.CurrentByteIndex))
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(raw: str) -> None:
        element = stack.pop()
        at = parser.CurrentByteIndex
        # "<x/>" reports its end after the "/>" (only markup without text, never ending in "/>",
        # can sit in an element without children); "</x>" reports where it starts.
        self_closing = not element.children and data[at - 2 : at] == b"/>"
        if not self_closing and data.startswith(b"</", at):
            at = data.index(b">", at) + 1
        element.end = offsets.char(at)

    def characters(value: str) -> None:
        if not stack:
            return
        begin = offsets.char(parser.CurrentByteIndex)
        children = stack[-1].children
        children.append(TextRun(value, begin, begin, False))  # its end is where the next event starts

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = lambda *_: refuse(
        "a document type declaration (DOCTYPE) is not allowed", "<!DOCTYPE"
    )
    parser.EntityDeclHandler = lambda *_: refuse("entity declarations are not allowed")
    parser.UnparsedEntityDeclHandler = lambda *_: refuse("entity declarations are not allowed")
    parser.ExternalEntityRefHandler = lambda *_: refuse("external references are not allowed")  # type: ignore[assignment]  # refuse raises: the int this handler would return never exists
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        at = exc.offset if exc.offset is not None else offsets.char(parser.CurrentByteIndex)
        line, column = position(source, at)
        raise MarkupError(exc.message, line, column) from None
    except expat.ExpatError as exc:
        at = parser.ErrorByteIndex
        line, column = position(source, offsets.char(at) if at >= 0 else len(source))
        raise MarkupError(expat.ErrorString(exc.code) or "not well-formed XML", line, column) from None
    if not root:  # expat reports an empty document itself; kept for certainty
        raise MarkupError("no root element", 1, 1)
    _close_runs(root[0], source)
    return root[0]


def _close_runs(element: Element, source: str) -> None:
    """Give every text run its end (the next event's start) and merge neighbours that touch."""
    children = element.children
    merged: list[Element | TextRun] = []
    for i, child in enumerate(children):
        if isinstance(child, Element):
            _close_runs(child, source)
            merged.append(child)
            continue
        following = children[i + 1] if i + 1 < len(children) else None
        if following is None:
            child.end = _end_tag_start(element, source)
        else:
            child.end = following.start
        # Exact when the run is its source, up to markup that carries no text (a comment, a
        # processing instruction, a CDATA section's end): then each character maps to one.
        value_end = child.start + len(child.value)
        if source.startswith(child.value, child.start) and (
            value_end == child.end or source.startswith(("<", "]]>"), value_end)
        ):
            child.end = value_end
            child.exact = True
        previous = merged[-1] if merged else None
        if isinstance(previous, TextRun) and previous.exact and child.exact and previous.end == child.start:
            previous.value += child.value
            previous.end = child.end
        else:
            merged.append(child)
    element.children = merged


def _end_tag_start(element: Element, source: str) -> int:
    """Where the element's end tag starts (its last text run ends there)."""
    if source.endswith("/>", 0, element.end):
        return element.end
    return source.rindex("</", 0, element.end)
