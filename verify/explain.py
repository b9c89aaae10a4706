"""Rule explanations, built from the rules' own docstrings: ``statewright explain`` and the
docs' rule reference print the same text, so neither can drift from the registry.

Each explanation shows the rule's definition, its failing example with the findings the
checker really reports for it, and its passing example.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

from statewright.verify.asl import check_asl_text
from statewright.verify.check import check_text, check_together
from statewright.verify.conformance.stepfunctions import check_history_text
from statewright.verify.findings import Finding
from statewright.verify.migration import migrate_texts
from statewright.verify.rules import RULES, Family, Rule

__all__ = [
    "FAMILY_TITLES",
    "Example",
    "close_matches",
    "example_files",
    "examples",
    "explain_text",
    "flowed",
    "rule_markdown",
    "rules_markdown",
]

FAMILY_TITLES = {
    Family.LOAD: "Load rules",
    Family.GRAPH: "Graph rules",
    Family.ORCHESTRATION: "Orchestration rules",
    Family.DATA: "Data rules",
    Family.PROJECT: "Project rules",
    Family.ASL: "ASL input rules",
    Family.STEP_FUNCTIONS: "Step Functions execution rules",
    Family.MIGRATION: "Migration rules",
}
FAMILY_INTROS = {
    Family.LOAD: "The loader reports every load error it finds in one run. A spec with a "
    "load error is not loaded (nothing is generated from it), but the other rules still run "
    "on what could be read around the errors, leaving out the lines an error touched, so "
    "that one round of fixes meets every finding.",
    Family.GRAPH: "Proven on the graph of the expanded transitions (a glob or list `from` "
    "becomes one transition per source state).",
    Family.ORCHESTRATION: "What a coordination layer needs: well-formed approval gates, "
    "and a reason code with a recovery procedure for every failure.",
    Family.DATA: "Proven over every reachable configuration (a state and a value of every "
    "variable) of a spec that declares `variables`, each with a counterexample trace; see "
    "[Data, guards and properties](data.md). For such a spec, `unreachable-state`, "
    "`trap`, `nondeterministic`, `always-cycle`, `shadowed-transition` and "
    "`uncoverable-transition` are proven over configurations too.",
    Family.PROJECT: "About the specs checked or generated together (the files and folders "
    "named on one command line), not one spec alone. An example shows several spec files, "
    "separated by a line `---`.",
    Family.ASL: "Raised when an Amazon States Language definition is read (see "
    "[AWS Step Functions](asl.md)); their examples are ASL definitions.",
    Family.STEP_FUNCTIONS: "Raised when an AWS Step Functions execution history is held "
    "against its ASL definition (see [Checking real executions](asl.md#checking-real-"
    "executions)); each example is a definition and a history.",
    Family.MIGRATION: "Proven by `statewright migrate OLD NEW` (and `check --previous OLD`) "
    "when a new version of a spec declares how stored runs of the old one move to it (see "
    "[Migrations](migrations.md)). An example shows the old spec, a line `---`, then the "
    "new one.",
}


@dataclass(frozen=True, slots=True)
class Example:
    """One of a rule's examples (one spec, several for a project rule, or an ASL definition
    for an ASL rule), the files it is checked as, and what the checker reports for it."""

    rule: str
    label: str
    spec: str
    findings: tuple[Finding, ...]
    files: tuple[str, ...] = ()

    @property
    def language(self) -> str:
        """The Markdown language of the example."""
        return "json" if self.files and self.files[0].endswith(".json") else "yaml"

    @property
    def history(self) -> bool:
        """Whether the example is an ASL definition and an execution history."""
        return len(self.files) == 2 and self.files[1].endswith(".history.json")

    def command(self, limit: int | None = None, files: bool = True, verb: str = "check") -> str:
        """The command that reports the example's findings (``limit``: its
        ``--max-configurations``; ``verb``: ``check`` or ``migrate``), with the example's
        files or without."""
        if self.history:
            named = f" {self.files[1]} {self.files[0]}" if files else ""
            return f"statewright audit check --trace{named}"
        option = f" --max-configurations {limit}" if limit is not None else ""
        named = f" {' '.join(self.files)}" if files else ""
        return f"statewright {verb}{option}{named}"

    def blocks(self) -> list[tuple[str, str]]:
        """The example as Markdown code blocks: (language, text), one per file for a
        definition and its history, else one."""
        if self.history:
            return [("json", part) for part in self.spec.split("\n---\n")]
        return [(self.language, self.spec)]

    @property
    def reported(self) -> str:
        """The example's findings of its own rule, one ``file:line:col: ...`` per line."""
        return "\n".join(
            line for f in self.findings if f.rule == self.rule for line in f.report_lines()
        )


@cache
def examples(rule_id: str) -> tuple[Example, ...]:
    """The ``Fails`` and ``Passes`` examples of a rule, each checked for real."""
    rule = RULES[rule_id]
    found: list[Example] = []
    for label in ("Fails", "Passes"):
        text = rule.example(label)
        if text is None:
            continue
        if rule.family is Family.ASL:
            files: tuple[str, ...] = (f"{label.lower()}.asl.json",)
            reported = tuple(f for r in check_asl_text(text, files[0]) for f in r.findings)
        elif rule.family is Family.STEP_FUNCTIONS:
            files = (f"{label.lower()}.asl.json", f"{label.lower()}.history.json")
            definition, history = rule.example_specs(label)
            reported = tuple(check_history_text(definition, history, *files))
        elif rule.family is Family.MIGRATION:
            files = example_files(label, 2)
            old, new = rule.example_specs(label)
            reported = migrate_texts(old, new, *files).findings
        else:
            specs = rule.example_specs(label)
            files = example_files(label, len(specs))
            limit = rule.example_limit
            results = check_together(
                [
                    check_text(t, f, max_configurations=limit)
                    for t, f in zip(specs, files, strict=True)
                ]
            )
            reported = tuple(f for r in results for f in r.findings)
        found.append(Example(rule_id, label, text, reported, files))
    return tuple(found)


def example_files(label: str, count: int) -> tuple[str, ...]:
    """The file names of an example's specs: ``fails.yaml``, or ``fails-1.yaml``, ..."""
    if count == 1:
        return (f"{label.lower()}.yaml",)
    return tuple(f"{label.lower()}-{n}.yaml" for n in range(1, count + 1))


def close_matches(name: str, limit: int = 5) -> list[str]:
    """Rule ids that look like ``name``: near spellings first, then ids containing it."""
    ids = list(RULES)
    near = difflib.get_close_matches(name, ids, n=limit, cutoff=0.5)
    containing = [i for i in ids if name and (name in i or i in name) and i not in near]
    return (near + containing)[:limit]


def flowed(text: str, markdown: bool = False) -> str:
    """A docstring's paragraphs each on one line; ``markdown`` turns ````code```` into
    Markdown's ```code```."""
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    joined = "\n\n".join(p for p in paragraphs if p)
    return joined.replace("``", "`") if markdown else joined


def _command(rule: Rule) -> str:
    """The command that reports the rule: ``migrate`` for a migration rule."""
    return "migrate" if rule.family is Family.MIGRATION else "check"


def _kind(rule: Rule) -> str:
    return f"{rule.severity}, {rule.family} rule"


def _indent(text: str) -> str:
    return "".join(f"    {line}" if line.strip() else line for line in text.splitlines(True))


def explain_text(rule: Rule) -> str:
    """The plain-text explanation ``statewright explain`` prints."""
    parts = [f"{rule.id} ({_kind(rule)})", flowed(rule.description, markdown=True)]
    for example in examples(rule.id):
        parts.append(f"{example.label}:\n\n{_indent(example.spec).rstrip()}")
        if example.reported:
            command = example.command(rule.example_limit)
            files = " ".join(example.files)
            if rule.example_limit is not None:
                files = f"--max-configurations {rule.example_limit} {files}"
            command = f"statewright {_command(rule)} {files}"
            parts.append(f"{command} reports:\n\n{_indent(example.reported)}")
    return "\n\n".join(parts) + "\n"


def rule_markdown(rule: Rule, level: int = 3) -> str:
    """The rule's entry in the docs' rule reference (Markdown)."""
    hashes = "#" * level
    parts = [f"{hashes} {rule.id}", f"*{_kind(rule)}*", flowed(rule.description, markdown=True)]
    found = examples(rule.id)
    for example in found:
        other = next(([t for _, t in e.blocks()] for e in found if e is not example), [])
        shown = "\n\n".join(
            f"```{language}{_marked(text, other[n] if n < len(other) else None)}"
            f"\n{text.rstrip()}\n```"
            for n, (language, text) in enumerate(example.blocks())
        )
        parts.append(f"**{example.label}:**\n\n{shown}")
        if example.reported:
            command = example.command(rule.example_limit, files=False)
            parts.append(f"`{command}` reports:\n\n```text\n{example.reported}\n```")
    return "\n\n".join(parts) + "\n"


def _marked(text: str, other: str | None) -> str:
    """A fence's ``hl_lines`` for the lines of ``text`` that the other example (failing or
    passing) does not have as they are: what breaks the rule, or what mends it."""
    if other is None:
        return ""
    lines = [
        number
        for tag, _, _, first, last in difflib.SequenceMatcher(
            a=other.rstrip().splitlines(), b=text.rstrip().splitlines(), autojunk=False
        ).get_opcodes()
        if tag in ("replace", "insert")
        for number in range(first + 1, last + 1)
    ]
    return f' hl_lines="{" ".join(map(str, lines))}"' if lines else ""


def rules_markdown(level: int = 2) -> str:
    """Every rule, grouped by family: the body of the rule reference page."""
    parts: list[str] = []
    for family, title in FAMILY_TITLES.items():
        rules = [r for r in RULES.values() if r.family is family]
        if not rules:
            continue
        index = " ".join(f"[`{r.id}`](#{r.id})" for r in rules)
        parts.append(f"{'#' * level} {title}\n\n{FAMILY_INTROS[family]}\n\n{index}\n")
        parts.extend(rule_markdown(r, level + 1) for r in rules)
    return "\n".join(parts)
