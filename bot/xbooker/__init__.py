"""The X Booker adapter: HTTP client, token manager, typed operations and errors."""
