"""Where a finding's rule is explained: its entry in the rule reference, on the web.

SARIF's ``helpUri`` and the GitHub annotations link every finding to its rule there, as
the documentation site links ``error[rule]`` in shown output. The rule reference gives
every rule an anchor named by its id (``rules.html#dead-end``). A team that publishes the
site itself (``mkdocs build``) points the links at its own copy with the environment
variable ``STATEWRIGHT_RULES_URL`` (the page's address, without ``#``); set to the empty
string, it leaves the links out.
"""

from __future__ import annotations

import os

__all__ = ["RULES_URL", "RULES_URL_VARIABLE", "rule_url", "rules_page"]

RULES_URL = "https://statewright.dev/rules.html"
"""The rule reference of the published documentation site."""

RULES_URL_VARIABLE = "STATEWRIGHT_RULES_URL"
"""The environment variable that names another copy of the rule reference."""


def rules_page() -> str | None:
    """The rule reference's address: ``STATEWRIGHT_RULES_URL`` when set (None when it
    is set empty: no links), else :data:`RULES_URL`."""
    page = os.environ.get(RULES_URL_VARIABLE, RULES_URL).strip()
    return page.split("#", 1)[0] or None


def rule_url(rule_id: str) -> str | None:
    """The address of ``rule_id``'s entry in the rule reference, or None (no links)."""
    page = rules_page()
    return f"{page}#{rule_id}" if page is not None else None
