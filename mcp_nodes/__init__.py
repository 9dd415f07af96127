"""The execution-node MCP server: testbed lifecycle, workflow runs, query tools over the store."""
