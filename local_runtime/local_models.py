"""The offline neural models the local runtime loads: Piper, when ``piper-tts`` is installed.

``local_models(host)`` is what ``build_catalogue`` gets as ``local_models``:
``[(spec, synthesizer)]`` for Piper with the packaged voice and the voices of
``LOCAL_VOICES_DIR``, or ``[]`` where Piper is not installed (then ``espeak``
is the default). Only voice configs are read here; a model loads on its
first job.
"""

from __future__ import annotations

from shared.config import LocalSettings
from shared.ports import Offload, Synthesizer
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.piper import PiperSynthesizer, piper_spec


def local_models(host: LocalSettings, offload: Offload | None = None) -> list[tuple[ModelSpec, Synthesizer]]:
    """Piper's spec and synthesizer (its runs through ``offload``, the runtime's thread pool), or nothing."""
    piper = PiperSynthesizer.from_folder(
        host.local_voices_dir or None, max_loaded=host.local_voices_loaded, threads=host.local_voice_threads,
        offload=offload,
    )
    return [] if piper is None else [(piper_spec(piper), piper)]
