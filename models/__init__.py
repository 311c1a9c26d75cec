"""Drift: how far each action strays from its session's declared intent, scored in [0, 1]
with the reasons that drove it, from what an enforcement point sees (the declaration, the
MCP server's ``tools/list``, each call's arguments, the results of earlier calls, the
delegation chain, the agent's baseline). No language model at run time.

- ``models.trail``: the per-session context a scorer keeps, and the score it gives;
- ``models.scenarios``: the labelled scenario generator the model is trained and judged on;
- the shipped default model (a skops file, never pickle) lives in ``models/default/``.
"""
