"""How an agent runs: in this process (asyncio task) or as a child process (STOMP)."""
