"""Text as it is spoken: SSML, pronunciation lexicons, and what the provider receives.

One rendering path (``render``) turns a job's text or SSML, plus the
tenant's lexicons, into segments: text to speak (with where each character
came from in the submitted text), exact silences, and phonemes where the
model takes them. ``plan`` cuts the segments into provider requests.

Modules: ``xmltree`` (a safe XML parser that keeps source offsets),
``ssml`` (the SSML elements we support, validated), ``lexicon`` (rules from
PLS or JSON, their version, and matching), ``sayas`` and ``numbers``
(``<say-as>`` readings), ``phonemes`` (alphabets and eSpeak's notation),
``render`` and ``plan``, and ``chunking`` (cutting plain text into pieces a
provider takes in one request). Standard library only: the api Worker imports them
(docs/pronunciation.md) on its first request, so their records are
NamedTuples and small classes, not dataclasses: making a frozen dataclass
``exec``s several generated methods, five to seven times the cost of a
NamedTuple in Pyodide (docs/benchmarks.md, "Pronunciation").
"""
