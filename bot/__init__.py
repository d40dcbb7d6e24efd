"""xbooker-bot: X Booker organization administration from Slack."""

__version__ = "0.1.0"
