"""The worked example of ``docs/agents.md`` is one piece of code: the agents the page shows
and runs are exactly those of ``docs/examples/discovery_agents.py``, which the page's
crash-and-restart run starts as a worker process (``test_docs`` runs the page)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_page_shows_the_example_module_agents() -> None:
    module = (ROOT / "docs" / "examples" / "discovery_agents.py").read_text(encoding="utf-8")
    agents = module.split("# -- agents: begin\n")[1].split("# -- agents: end\n")[0].strip()
    page = (ROOT / "docs" / "agents.md").read_text(encoding="utf-8")
    blocks = [block.split("```")[0].strip() for block in page.split("```python\n")[1:]]
    assert agents in blocks, "docs/agents.md no longer shows the example module's agents"
    assert agents.count("@handlers.on_enter(State.") == 8  # five agents and three routers
