"""The offline neural models the local runtime loads: Piper, when ``piper-tts`` is installed.

``local_models(host)`` is what ``build_catalogue`` gets as ``local_models``:
``[(spec, synthesizer)]`` for Piper with the packaged voice and the voices of
``LOCAL_VOICES_DIR``, or ``[]`` where Piper is not installed (then ``espeak``
is the default). Only voice configs are read here; a model loads on its
first job, in the process that runs it (the consumer).
"""

from __future__ import annotations

from shared.config import LocalSettings
from shared.ports import Synthesizer
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.piper import PiperSynthesizer, piper_spec


def local_models(host: LocalSettings) -> list[tuple[ModelSpec, Synthesizer]]:
    piper = PiperSynthesizer.from_folder(
        host.local_voices_dir or None, max_loaded=host.local_voices_loaded, threads=host.local_voice_threads
    )
    return [] if piper is None else [(piper_spec(piper), piper)]
