"""English number words: cardinals, ordinals, years (``<say-as>`` readings).

Written here rather than taken from ``num2words`` 0.5.14: it imports its
60 language modules on ``import num2words`` (220 ms in CPython on this
machine, first import; Pyodide is slower) and requires ``docopt``, which
PyPI has only as a source distribution, not a wheel the Workers' vendoring
takes. The readings needed are the few English ones below.
"""

from __future__ import annotations

__all__ = ["cardinal", "digit_words", "ordinal", "year"]

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    " seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_ORDINAL = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MAX_CARDINAL = 10 ** (3 * len(_SCALES)) - 1


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return " ".join(words)


def cardinal(n: int) -> str:
    """``n`` in words: 1234 -> "one thousand two hundred thirty-four"; ``ValueError`` beyond quintillions."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        raise ValueError(f"{n} is too large to read out")
    if n < 1000:
        return _below_thousand(n)
    groups: list[str] = []
    scale = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            groups.append(_below_thousand(group) + (f" {_SCALES[scale]}" if scale else ""))
        scale += 1
    return " ".join(reversed(groups))


def ordinal(n: int) -> str:
    """``n`` as an ordinal: 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    stem_head, dash, tail = last.rpartition("-")
    if tail in _ORDINAL:
        tail = _ORDINAL[tail]
    elif tail.endswith("y"):
        tail = tail[:-1] + "ieth"
    else:
        tail += "th"
    return f"{head}{sep}{stem_head}{dash}{tail}"


def year(n: int) -> str:
    """A year as it is said: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five", 1905 -> "nineteen oh five"."""
    if n < 1000 or n > 9999 or (n % 1000 < 10 and n // 1000 != 1) or n % 100 == 0 and n // 100 % 10 == 0:
        return cardinal(n)
    head, tail = divmod(n, 100)
    if tail == 0:
        return f"{cardinal(head)} hundred"
    if tail < 10:
        return f"{cardinal(head)} oh {_ONES[tail]}"
    return f"{cardinal(head)} {cardinal(tail)}"


def digit_words(digits: str) -> str:
    """Each digit of ``digits`` as a word: "105" -> "one zero five"."""
    return " ".join(_ONES[int(d)] for d in digits)
