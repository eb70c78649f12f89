"""Errors of text rendering (SSML, lexicons, say-as, phonemes). Each says when it is raised."""

from __future__ import annotations


class TextError(Exception):
    """Base of the errors in ``shared.text``."""


class MarkupError(TextError):
    """Raised for a document that is not well-formed XML, uses a DTD, entity or external reference,
    or breaks the SSML or PLS rules we support; ``line`` and ``column`` (1-based, in characters)
    point at the problem."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.line = line
        self.column = column


class LexiconRuleError(TextError):
    """Raised for a JSON lexicon whose rule ``index`` (0-based) is malformed; ``field`` names its key."""

    def __init__(self, message: str, index: int | None, field: str | None = None) -> None:
        where = f"rules[{index}]" if index is not None else "lexicon"
        super().__init__(f"{where}{'.' + field if field else ''}: {message}")
        self.reason = message
        self.index = index
        self.field = field


class RenderError(TextError):
    """Raised when a valid document cannot be spoken by the chosen model (a phoneme with no alias on a model
    that takes no phonemes, a reading too long for one provider request); ``field`` is the request field."""

    def __init__(self, message: str, field: str = "text", *, code: str = "unrenderable") -> None:
        super().__init__(message)
        self.field = field
        self.code = code
