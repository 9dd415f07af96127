"""AI agents: the LLM port, the debugging loop, chat."""
