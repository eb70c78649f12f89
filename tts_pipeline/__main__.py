"""``python -m tts_pipeline``: the ``tts-pipeline`` command."""

from tts_pipeline.cli import main

raise SystemExit(main())
