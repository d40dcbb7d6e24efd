"""The Slack-agnostic core: command registry, allow-list, approvals, audit, replies."""
