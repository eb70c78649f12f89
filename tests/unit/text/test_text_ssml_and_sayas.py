"""The SSML we take (and what we refuse, with line and column), and the say-as readings."""

from __future__ import annotations

import pytest

from shared.text import numbers, sayas
from shared.text.errors import MarkupError
from shared.text.ssml import BREAK_STRENGTHS, PARAGRAPH_PAUSE, SENTENCE_PAUSE, Pause, Phoneme, Reading, Text, read_ssml


def test_events_in_document_order() -> None:
    source = (
        '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.1" xml:lang="en-US">'
        '<p><s>Hi <sub alias="World Wide Web Consortium">W3C</sub></s></p>'
        '<break time="1.5s"/><phoneme alphabet="x-sampa" ph="h@&quot;loU">hello</phoneme><mark name="m"/></speak>'
    )
    events = read_ssml(source)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Pause", "Pause", "Text", "Reading", "Pause", "Pause", "Pause", "Phoneme"]
    reading = events[3]
    assert isinstance(reading, Reading) and reading.spoken == "World Wide Web Consortium"
    assert source[reading.start : reading.end] == "W3C" and reading.display == "W3C"
    assert events[0] == Pause(PARAGRAPH_PAUSE, explicit=False) and events[1] == Pause(SENTENCE_PAUSE, explicit=False)
    assert events[6] == Pause(1500, explicit=True)
    phoneme = events[7]
    assert isinstance(phoneme, Phoneme) and phoneme.ph == 'h@"loU' and phoneme.alphabet == "x-sampa"


@pytest.mark.parametrize(
    "attrs,ms",
    [('time="2s"', 2000), ('time="250ms"', 250), ('time=".5s"', 500), ('time="10s"', 10_000), ("", 400),
     ('strength="x-strong"', 1000), ('strength="none"', 0), ('strength="weak" time="3s"', 3000)],
)
def test_break_lengths(attrs: str, ms: int) -> None:
    assert read_ssml(f"<speak>a<break {attrs}/>b</speak>")[1] == Pause(ms, explicit=True)
    assert BREAK_STRENGTHS["medium"] == 400


@pytest.mark.parametrize(
    "source,message,line,column",
    [
        ('<speak>\n  <break time="11s"/></speak>', "at most 10s", 2, 3),
        ('<speak><break time="2 minutes"/></speak>', "seconds or milliseconds", 1, 8),
        ('<speak><break strength="huge"/></speak>', "x-weak", 1, 8),
        ("<speak><audio src='x.mp3'/></speak>", "<audio> is not supported", 1, 8),
        ("<speak><voice name='x'>a</voice></speak>", "<voice> is not supported", 1, 8),
        ("<speak><sub>W3C</sub></speak>", "needs a alias", 1, 8),
        ("<speak><sub alias='a'><b/>W3C</sub></speak>", "text only", 1, 23),
        ("<speak><say-as interpret-as='unit'>3cm</say-as></speak>", "not supported", 1, 8),
        ("<speak><say-as interpret-as='cardinal'>12a</say-as></speak>", "not a number", 1, 8),
        ("<speak><phoneme alphabet='arpabet' ph='AH'>a</phoneme></speak>", "ipa, x-sampa", 1, 8),
        ("<speak><prosody rate='warp'>a</prosody></speak>", "x-slow", 1, 8),
        ("<text>hello</text>", "root element must be <speak>", 1, 1),
        ("<speak>a<speak>b</speak></speak>", "<speak> is not supported", 1, 9),
        ("<speak xmlns:amazon='urn:x'><amazon:effect>a</amazon:effect></speak>", "namespace", 1, 29),
        ("<speak>unclosed", "no element found", 1, 16),
    ],
)
def test_refused_ssml_names_line_and_column(source: str, message: str, line: int, column: int) -> None:
    with pytest.raises(MarkupError) as caught:
        read_ssml(source)
    assert message in caught.value.reason, caught.value.reason
    assert (caught.value.line, caught.value.column) == (line, column)


def test_prosody_rate_values_and_nesting() -> None:
    def rate(attr: str, outer: str = "") -> float | None:
        inner = f"<prosody rate='{attr}'>x</prosody>"
        doc = f"<speak>{f'<prosody rate={outer!r}>' + inner + '</prosody>' if outer else inner}</speak>"
        event = read_ssml(doc)[0]
        assert isinstance(event, Text)
        return event.rate

    assert rate("slow") == 0.75 and rate("x-fast") == 1.5 and rate("150%") == 1.5 and rate("1.2") == 1.2
    assert rate("+20%", outer="slow") == pytest.approx(0.9) and rate("-50%", outer="fast") == pytest.approx(0.625)
    assert rate("1000%") == 4.0  # capped


@pytest.mark.parametrize(
    "interpret,text,fmt,spoken",
    [
        ("characters", "W3C", None, "double-u three see"),
        ("spell-out", "a b-z", None, "ay bee - zee"),
        ("digits", "105", None, "one zero five"),
        ("cardinal", "1,234", None, "one thousand two hundred thirty-four"),
        ("cardinal", "-3.14", None, "minus three point one four"),
        ("cardinal", "1000000", None, "one million"),
        ("ordinal", "21st", None, "twenty-first"),
        ("ordinal", "3", None, "third"),
        ("ordinal", "100", None, "one hundredth"),
        ("ordinal", "12", None, "twelfth"),
        ("date", "2024-01-05", None, "January fifth, twenty twenty-four"),
        ("date", "10/3/2014", "mdy", "October third, twenty fourteen"),
        ("date", "3.10.1999", "dmy", "October third, nineteen ninety-nine"),
        ("date", "1905", "y", "nineteen oh five"),
        ("date", "2000", "y", "two thousand"),
        ("date", "Jan 5", "md", "January fifth"),
        ("telephone", "+1-555-0100", None, "plus one, five five five, zero one zero zero"),
        ("telephone", "(030) 1234", None, "zero three zero, one two three four"),
    ],
)
def test_english_readings(interpret: str, text: str, fmt: str | None, spoken: str) -> None:
    assert sayas.read(interpret, text, fmt, "en-US") == spoken


def test_other_languages_keep_numbers_for_the_engine() -> None:
    assert sayas.read("cardinal", "1,234", None, "de") == "1234"
    assert sayas.read("ordinal", "3.", None, "de") == "3."
    assert sayas.read("digits", "105", None, "fr") == "1 0 5"
    assert sayas.read("telephone", "+49 30 1234", None, "de") == "+ 4 9, 3 0, 1 2 3 4"
    assert sayas.read("characters", "ABC", None, "de") == "A B C"


@pytest.mark.parametrize(
    "interpret,text,fmt",
    [("digits", "12a", None), ("ordinal", "first", None), ("date", "2024-13-01", "ymd"), ("date", "1/2", "mdy"),
     ("date", "32/1/2000", "dmy"), ("telephone", "call me", None), ("date", "1/1/2000", "xyz"), ("cardinal", " ", None)],
)
def test_content_that_is_not_what_it_says_is_refused(interpret: str, text: str, fmt: str | None) -> None:
    with pytest.raises(sayas.SayAsError):
        sayas.read(interpret, text, fmt, "en")


def test_number_words() -> None:
    assert numbers.cardinal(0) == "zero" and numbers.cardinal(15) == "fifteen" and numbers.cardinal(90) == "ninety"
    assert numbers.cardinal(101) == "one hundred one"
    assert numbers.cardinal(2_000_017) == "two million seventeen"
    assert numbers.ordinal(40) == "fortieth" and numbers.ordinal(1_000) == "one thousandth"
    assert numbers.year(2024) == "twenty twenty-four" and numbers.year(1066) == "ten sixty-six"
    assert numbers.year(2009) == "two thousand nine" and numbers.year(1900) == "nineteen hundred"
    with pytest.raises(ValueError):
        numbers.cardinal(10**21)
