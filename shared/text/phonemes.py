"""Phoneme alphabets: X-SAMPA to IPA, and IPA to eSpeak's phoneme mnemonics.

A ``<phoneme>`` (or a lexicon's phoneme rule) is written in ``ipa`` or
``x-sampa``; a model takes phonemes in its own notation (``ModelSpec
.phonemes``): eSpeak reads ``[[...]]`` mnemonics (its Kirshenbaum-like
ASCII names, https://github.com/espeak-ng/espeak-ng/blob/master/docs/phonemes.md).
``convert`` turns a string into that notation or raises ``PhonemeError``
naming the first symbol it has no equivalent for; the renderer then falls
back to the rule's alias (or refuses the job, naming the model).

The eSpeak table covers the phonemes of English (eSpeak's ``en`` and
``en-us`` voices); stress marks, length and syllable marks are kept,
tie bars dropped.
"""

from __future__ import annotations

__all__ = ["NOTATIONS", "PhonemeError", "convert", "to_ipa"]

NOTATIONS = ("espeak",)


class PhonemeError(ValueError):
    """Raised when a phoneme string holds a symbol with no equivalent in the target notation."""


# X-SAMPA -> IPA (the symbols of the X-SAMPA chart; longest first when converting).
_XSAMPA: dict[str, str] = {
    "A": "ɑ", "B": "β", "C": "ç", "D": "ð", "E": "ɛ", "F": "ɱ", "G": "ɣ", "H": "ɥ", "I": "ɪ", "J": "ɲ",
    "K": "ɬ", "L": "ʎ", "M": "ɯ", "N": "ŋ", "O": "ɔ", "P": "ʋ", "Q": "ɒ", "R": "ʁ", "S": "ʃ", "T": "θ",
    "U": "ʊ", "V": "ʌ", "W": "ʍ", "X": "χ", "Y": "ʏ", "Z": "ʒ",
    "@": "ə", "{": "æ", "}": "ʉ", "1": "ɨ", "2": "ø", "3": "ɜ", "4": "ɾ", "5": "ɫ", "6": "ɐ", "7": "ɤ",
    "8": "ɵ", "9": "œ", "&": "ɶ", "?": "ʔ",
    "\"": "ˈ", "%": "ˌ", ":": "ː", ":\\": "ˑ", ".": ".", "-": "",
    "@\\": "ɘ", "3\\": "ɞ", "?\\": "ʕ", "B\\": "ʙ", "G\\": "ɢ", "H\\": "ʜ", "I\\": "ᵻ", "J\\": "ɟ",
    "K\\": "ɮ", "L\\": "ʟ", "M\\": "ɰ", "N\\": "ɴ", "R\\": "ʀ", "U\\": "ᵿ", "X\\": "ħ",
    "h\\": "ɦ", "j\\": "ʝ", "l\\": "ɺ", "p\\": "ɸ", "r\\": "ɹ", "s\\": "ɕ", "v\\": "ʋ", "x\\": "ɧ", "z\\": "ʑ",
    "d`": "ɖ", "l`": "ɭ", "n`": "ɳ", "r`": "ɽ", "r\\`": "ɻ", "s`": "ʂ", "t`": "ʈ", "z`": "ʐ",
    "_h": "ʰ", "_j": "ʲ", "_w": "ʷ", "_G": "ˠ", "~": "\u0303", "_~": "\u0303", "=": "\u0329", "_=": "\u0329",
    "_0": "\u0325", "`": "˞", "_^": "\u032f",
}
_XSAMPA.update({c: c for c in "abcdefghijklmnopqrstuvwxyz"})

# IPA -> eSpeak mnemonics (English). Longest first when converting.
_ESPEAK: dict[str, str] = {
    "tʃ": "tS", "dʒ": "dZ", "eɪ": "eI", "aɪ": "aI", "ɔɪ": "OI", "aʊ": "aU", "oʊ": "oU", "əʊ": "@U",
    "ɪə": "i@", "ɛə": "e@", "eə": "e@", "ʊə": "U@", "iː": "i:", "uː": "u:", "ɑː": "A:", "ɔː": "O:",
    "ɜː": "3:", "ɝ": "3:", "ɚ": "3", "ə": "@", "æ": "a", "ɑ": "A", "ɒ": "0", "ɔ": "O", "ɛ": "E",
    "ɪ": "I", "ʊ": "U", "ʌ": "V", "ɐ": "@", "ɜ": "3", "ᵻ": "I", "ɨ": "I", "ʉ": "u", "a": "a", "e": "e",
    "i": "i", "o": "o", "u": "u",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "ɡ": "g", "f": "f", "v": "v", "θ": "T",
    "ð": "D", "s": "s", "z": "z", "ʃ": "S", "ʒ": "Z", "h": "h", "m": "m", "n": "n", "ŋ": "N", "l": "l",
    "ɫ": "l", "ɹ": "r", "r": "r", "w": "w", "j": "j", "ʔ": "?", "x": "x", "ç": "C", "ɾ": "t",
    "ˈ": "'", "ˌ": ",", "ː": ":", ".": "", " ": " ", "\u0361": "", "\u035c": "", "\u0329": "",
}


def _greedy(text: str, table: dict[str, str], name: str) -> str:
    longest = max(len(k) for k in table)
    out: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            piece = text[i : i + size]
            if piece in table:
                out.append(table[piece])
                i += size
                break
        else:
            raise PhonemeError(f"{text[i]!r} (U+{ord(text[i]):04X}) has no {name} equivalent")
    return "".join(out)


def to_ipa(ph: str, alphabet: str) -> str:
    """``ph`` in IPA (X-SAMPA converted; IPA as it is)."""
    if alphabet == "ipa":
        return ph
    if alphabet == "x-sampa":
        return _greedy(" ".join(ph.split()).replace(" ", "\x00"), {**_XSAMPA, "\x00": " "}, "IPA")
    raise PhonemeError(f"alphabet {alphabet!r} is not supported")


def convert(ph: str, alphabet: str, notation: str) -> str:
    """``ph`` (in ``alphabet``) in the model's ``notation``; ``PhonemeError`` when a symbol has no equivalent."""
    ipa = to_ipa(" ".join(ph.split()), alphabet)
    if notation == "espeak":
        return _greedy(ipa, _ESPEAK, "eSpeak")
    raise PhonemeError(f"notation {notation!r} is not known")
