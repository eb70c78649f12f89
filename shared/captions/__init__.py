"""Word timings and captions: engines' word events, chunk shifting, cues, WebVTT and SRT.

Modules: ``words`` (the timing type, alignment to the submitted text;
stdlib only, ``shared.ports`` imports it), ``measure`` (exact audio length,
estimated timings), ``chunks`` (per-chunk timings of long jobs, shifted into
the joined audio), ``cues`` (grouping and rendering), ``document`` (the JSON
in R2 and at ``/timestamps``), ``store`` (the job's timings object).
This package file imports nothing, so importing ``shared.words``
pulls in nothing else.
"""
