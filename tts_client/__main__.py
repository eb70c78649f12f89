"""``python -m tts_client``: the client commands of ``tts-pipeline`` on their own."""
from tts_client.cli import main

raise SystemExit(main())
