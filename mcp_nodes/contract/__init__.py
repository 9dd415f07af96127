"""The node <-> gateway contract: identity tokens, registration wire models, the scope table.

Imported by both sides of the registration; imports neither `mcp_gateway` nor the node server.
"""
