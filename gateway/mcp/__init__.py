"""The MCP Streamable HTTP endpoint (both protocol revisions) served by a Channels consumer."""
