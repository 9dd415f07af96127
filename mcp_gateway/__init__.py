"""The gateway MCP server: node registry, routing, auth, limits; also the `controlroom` CLI root."""
