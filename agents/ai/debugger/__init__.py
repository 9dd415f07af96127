"""The debugging agent: evidence → rules (→ LLM ReAct) → fix → policy gate → apply → verify.

Modules: ``evidence`` (what is gathered, through read-only tools), ``rules`` (the failure
catalog), ``fixes`` (the fix catalog and how each is applied), ``policy`` (AUTO | ASK | STOP),
``react`` (the bounded LLM loop for what no rule knows), ``loop`` (one debugging session).
"""
