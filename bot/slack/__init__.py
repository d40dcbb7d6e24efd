"""The Slack adapter: decoding, the Bolt app, and its HTTP and Socket Mode runners."""
