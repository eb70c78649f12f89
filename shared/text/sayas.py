"""``<say-as>`` readings: what is spoken for ``interpret-as`` and ``format``, the same on every model.

| interpret-as | reading |
| --- | --- |
| ``characters``, ``spell-out`` | each character apart, letters and digits by name: "W3C" -> "double-u three see" |
| ``digits`` | each digit apart: "105" -> "one zero five" |
| ``cardinal`` | a number: "1,234" -> "one thousand two hundred thirty-four" |
| ``ordinal`` | "3", "3rd" -> "third" |
| ``date`` | ``format`` one of ``mdy dmy ymd md dm ym my d m y`` (default ``ymd`` for "2024-01-05", else ``mdy``): "January fifth, twenty twenty-four" |
| ``telephone`` | digits in their groups: "+1-555-0100" -> "plus one, five five five, zero one zero zero" |

Words are English when the language (``xml:lang``, default ``en``) is
English (letter names as in en-US; ``zed`` for other English). For another
language the engine reads in its own words: numbers and dates are passed as
written (separators of thousands dropped), and characters, digits and
telephone numbers are split one by one, which every engine reads in the
voice's language. Content that is not what
``interpret-as`` says (letters in a cardinal) is a ``SayAsError``.
"""

from __future__ import annotations

import re

from shared.text import numbers

__all__ = ["INTERPRETATIONS", "SayAsError", "read"]

INTERPRETATIONS = ("characters", "spell-out", "cardinal", "ordinal", "digits", "date", "telephone")
DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "d", "m", "y")
_MONTHS = "January February March April May June July August September October November December".split()
_NUMBER = re.compile(r"^([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$")
_ORDINAL = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th|\.|º|ª|e|er|re)?$", re.IGNORECASE)
_FIELDS = re.compile(r"\d+|[A-Za-z]+")


class SayAsError(ValueError):
    """Raised when the content cannot be read as ``interpret-as`` says (or it names no reading we have)."""


def _english(lang: str) -> bool:
    return lang.lower().startswith("en")


def read(interpret_as: str, text: str, fmt: str | None, lang: str) -> str:
    """The words spoken for ``text`` read as ``interpret_as`` (see the module doc)."""
    text = text.strip()
    if not text:
        raise SayAsError("the element holds no text")
    english = _english(lang)
    if interpret_as in ("characters", "spell-out"):
        chars = [ch for ch in text if not ch.isspace()]
        if not english:
            return " ".join(chars)
        return " ".join(_letter_name(ch, lang) for ch in chars)
    if interpret_as == "digits":
        digits = [ch for ch in text if not ch.isspace()]
        if not all(ch.isdigit() for ch in digits):
            raise SayAsError(f"{text!r} is not a string of digits")
        return numbers.digit_words("".join(digits)) if english and all(ch in "0123456789" for ch in digits) else " ".join(digits)
    if interpret_as == "cardinal":
        return _cardinal(text, english)
    if interpret_as == "ordinal":
        match = _ORDINAL.match(text)
        if match is None:
            raise SayAsError(f"{text!r} is not an ordinal number")
        value = int(match.group(1).replace(",", ""))
        return numbers.ordinal(value) if english else text
    if interpret_as == "date":
        return _date(text, fmt, english)
    if interpret_as == "telephone":
        return _telephone(text, english)
    raise SayAsError(f"interpret-as {interpret_as!r} is not supported; use one of {', '.join(INTERPRETATIONS)}")


_LETTERS = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        "ay bee see dee ee ef gee aitch eye jay kay el em en oh pee cue ar ess tee you vee double-u ex why zee".split(),
    )
)


def _letter_name(ch: str, lang: str) -> str:
    lower = ch.lower()
    if lower == "z" and not lang.lower().startswith("en-us") and lang.lower() != "en":
        return "zed"
    if lower in _LETTERS:
        return _LETTERS[lower]
    if ch in "0123456789":
        return numbers.digit_words(ch)
    return ch


def _cardinal(text: str, english: bool) -> str:
    match = _NUMBER.match(text.replace(" ", ""))
    if match is None:
        raise SayAsError(f"{text!r} is not a number")
    sign, whole, fraction = match.group(1), match.group(2).replace(",", ""), match.group(3)
    if not english:
        return f"{sign}{whole}" + (f".{fraction}" if fraction else "")
    try:
        words = numbers.cardinal(int(whole))
    except ValueError as exc:
        raise SayAsError(str(exc)) from exc
    if fraction:
        words += " point " + numbers.digit_words(fraction)
    return ("minus " if sign == "-" else "") + words


def _date(text: str, fmt: str | None, english: bool) -> str:
    fields = _FIELDS.findall(text)
    if fmt is None:
        fmt = "ymd" if re.match(r"^\d{4}\D", text) else "mdy"
    if fmt not in DATE_FORMATS:
        raise SayAsError(f"format {fmt!r} is not a date format; use one of {', '.join(DATE_FORMATS)}")
    if len(fields) != len(fmt):
        raise SayAsError(f"{text!r} does not have the {len(fmt)} fields of format {fmt!r}")
    parts = dict(zip(fmt, fields))
    month = parts.get("m")
    if month is not None:
        month_number = _month(month)
        if month_number is None:
            raise SayAsError(f"{month!r} is not a month")
    day = parts.get("d")
    if day is not None and not (day.isdigit() and 1 <= int(day) <= 31):
        raise SayAsError(f"{day!r} is not a day of a month")
    year = parts.get("y")
    if year is not None and not year.isdigit():
        raise SayAsError(f"{year!r} is not a year")
    if not english:
        return text
    words: list[str] = []
    if month is not None:
        words.append(_MONTHS[(_month(month) or 1) - 1])
    if day is not None:
        words.append(("the " if month is None else "") + numbers.ordinal(int(day)))
    spoken = " ".join(words)
    if year is not None:
        said = numbers.year(int(year))
        spoken = f"{spoken}, {said}" if day is not None and month is not None else f"{spoken} {said}".strip()
    return spoken


def _month(value: str) -> int | None:
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    lowered = value.lower()
    for index, name in enumerate(_MONTHS):
        if len(lowered) >= 3 and name.lower().startswith(lowered):
            return index + 1
    return None


def _telephone(text: str, english: bool) -> str:
    groups = re.findall(r"\+|\d+", text)
    if not any(g.isdigit() for g in groups) or re.search(r"[^\d\s+().\-/]", text):
        raise SayAsError(f"{text!r} is not a telephone number")
    said: list[str] = []
    plus = False
    for group in groups:
        if group == "+":
            plus = True
            continue
        words = numbers.digit_words(group) if english else " ".join(group)
        said.append((("plus " if english else "+ ") if plus else "") + words)
        plus = False
    return ", ".join(said)
