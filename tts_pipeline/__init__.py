"""The ``tts-pipeline`` command: the one package that imports everything it offers.

Rule: nothing imports this package; it sits above the runtime packages (shared/,
the adapters, local_runtime/), tts_client/, tooling/ and bench/, so the runtime
never imports the tooling or bench it exposes.
"""
