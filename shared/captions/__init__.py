"""Captions: timings measured or estimated from audio, chunk shifting, cues, WebVTT and SRT.

Modules: ``measure`` (exact audio length, estimated timings), ``chunks``
(per-chunk timings of long jobs, shifted into the joined audio), ``cues``
(grouping and rendering), ``document`` (the JSON in R2 and at
``/timestamps``), ``store`` (the job's timings object), ``location`` (its
key). The word timing type and its alignment to the submitted text are
``shared.words``, below this package: engines, text rendering and
``shared.ports`` use them without importing captions. Captions build on
``shared.audio`` and ``shared.text``, never on ``shared.synthesis``.
"""
