"""Undo Slack's encoding of slash-command text before the core parses it.

With ``should_escape: true`` Slack sends users as ``<@U123|name>``, emails as
``<mailto:a@b|a@b>``, links as ``<https://x|label>``, channels as
``<#C123|name>``, broadcasts as ``<!channel>``, and ``& < >`` as entities;
phones add curly quotes. The core sees plain text: IDs, addresses, URLs.
"""

from __future__ import annotations

import re

_ANGLE = re.compile(r"<([^<>]*)>")
_BROADCASTS = ("channel", "here", "everyone")


def _replace(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith(("@U", "@W")):
        return target[1:]
    if target.startswith("#"):
        return target[1:]
    if target.startswith("!"):
        special = target[1:]
        if special in _BROADCASTS:
            return "@" + special
        return label or special.split("^")[0]
    if target.startswith("mailto:"):
        return target[len("mailto:") :]
    return target


def decode(text: str) -> str:
    text = _ANGLE.sub(_replace, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.translate(str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"}))
