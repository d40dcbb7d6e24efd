"""`python -m bot` runs the same command line as `xbooker-bot`."""

from bot.cli import main

raise SystemExit(main())
