"""Labelled agent sessions for training and judging the drift model, built from the
project's own catalogue of domains, tools, intents and threats (``models.scenarios.types``
is the shape every part agrees on).

``generate(seed, n)`` makes scenarios, ``render(scenario, start)`` turns one into the MCP
capture records, token and declaration the ledger would receive, with the source id each
call's event will carry.
"""

from models.scenarios.generate import DOMAINS, ScenarioError, generate
from models.scenarios.render import CallRef, RenderedSession, render

__all__ = ["DOMAINS", "CallRef", "RenderedSession", "ScenarioError", "generate", "render"]
