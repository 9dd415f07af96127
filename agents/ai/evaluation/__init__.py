"""How the debugging agent is evaluated: the chaos harness that injects failures into a live
``controlroom up`` (from outside, through MCP and signals) and scores the debugger's answers."""
