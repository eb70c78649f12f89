from tts_client.cli import main

raise SystemExit(main())
