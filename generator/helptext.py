"""What ``statewright COMMAND --help`` says about each command: what it does, what it
writes where, and its exit status. :mod:`generator.cli` gives each subparser its
:meth:`Help.options`; the arguments' own help stays beside their definitions there.

The texts are wrapped here, once, at :data:`WIDTH` columns, because argparse prints a
description and an epilog with line breaks only as given (``RawDescriptionHelpFormatter``)
or with none at all.
"""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass
from typing import Any

__all__ = ["COMMANDS", "TOP", "Help"]

WIDTH = 79


@dataclass(frozen=True, slots=True)
class Help:
    """One command's help: a summary line for ``statewright --help``, paragraphs of
    description, and the exit statuses with what each means."""

    summary: str
    description: tuple[str, ...]
    exits: tuple[tuple[int, str], ...]

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``add_parser`` (or ``ArgumentParser``) for this help."""
        return {
            "help": self.summary,
            "description": "\n\n".join(textwrap.fill(p, WIDTH) for p in self.description),
            "epilog": self.epilog(),
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        }

    def epilog(self) -> str:
        lines = ["exit status:"]
        for status, meaning in self.exits:
            lines.extend(
                textwrap.wrap(
                    meaning, WIDTH, initial_indent=f"  {status}  ", subsequent_indent="     "
                )
            )
        return "\n".join(lines)


_PROGRESS = (
    "Long work shows its progress on standard error when that is a terminal, and "
    "nothing when it is not."
)

COMMANDS: dict[str, Help] = {
    "check": Help(
        "prove specs complete; report findings",
        (
            "Load every spec named (and every AWS Step Functions definition), run every "
            "rule on it and find trigger sequences that fire every transition.",
            "The report goes to standard output in --format; text gives one line per "
            "finding (file:line:col: severity[rule] message), the findings that only "
            "follow from another indented under it, each counterexample one step a line, "
            "a line per spec and a summary. Nothing is written to any file, except with "
            "--regressions DIR: a pytest module per violated property, each path said on "
            "standard error. " + _PROGRESS,
        ),
        (
            (0, "no finding is an error (with --strict: none is a warning either)"),
            (1, "a finding is an error (with --strict: or a warning)"),
            (
                2,
                "a usage error: a path that does not exist or is not a regular file, a "
                "folder with no spec in it, a --human name that is no callback state, a "
                "--regressions file statewright did not write, a symbolic link or a name "
                "too long in DIR (nothing is written then), a --runtime-package that is no "
                "dotted Python name",
            ),
        ),
    ),
    "paths": Help(
        "print the covering trigger sequences of a spec",
        (
            "Print trigger sequences that, each sent to a fresh machine in its initial "
            "state, together fire every transition of SPEC whose source is reachable: "
            "one numbered line per sequence on standard output, then a '#' line saying "
            "how many of the spec's transitions they fire. The findings of a spec that "
            "does not load go to standard error. " + _PROGRESS,
        ),
        (
            (0, "the sequences fire every transition whose source is reachable"),
            (1, "the spec does not load, or a reachable transition is never fired"),
            (2, "a usage error: SPEC does not exist or is a folder"),
        ),
    ),
    "generate": Help(
        "generate runtimes, tests and diagrams",
        (
            "For each spec without error findings, write DIR/<machine>/: runtime.py (the "
            "typed runtime, standard library only), test_<machine>.py (hypothesis tests "
            "of it) and the diagram as <machine>.svg, .dot and .mmd; and once, "
            "DIR/__init__.py and the runtime support DIR/_statewright/. Every file "
            "written or removed is named on standard output; the findings of a refused "
            "spec go to standard error.",
            "Only files statewright wrote are replaced or removed; a file of yours where "
            "one must go stops the run with nothing written. The run is all or nothing: "
            "every path is checked first (no symbolic link inside DIR, no name longer than "
            "the file system allows), the files are staged in DIR and renamed into place, "
            "and a spec with errors means nothing is written at all. With --check nothing is "
            "written: each difference from the disk is printed as a unified diff on "
            "standard output. " + _PROGRESS,
        ),
        (
            (0, "written, or with --check: DIR is up to date"),
            (
                1,
                "a spec has error findings, a file not written by statewright is in the "
                "way, a path in DIR is a symbolic link or too long (in each case nothing "
                "is written), or --check found a difference",
            ),
            (2, "a usage error: a path that does not exist, --out naming a file, no 'dot'"),
        ),
    ),
    "diagram": Help(
        "draw a spec, with its findings marked",
        (
            "Draw SPEC, or an AWS Step Functions definition (FILE#PART for one of its "
            "branches), with the checker's findings marked on it.",
            "The format is --format, else the one the ending of -o FILE names (.svg, "
            ".png, .dot or .gv, .mmd or .mermaid), else svg. svg, dot and mermaid go to "
            "standard output unless -o names a file; png without -o is written to "
            "<machine>.png in the current folder, and that path is printed. A spec that "
            "does not load has its findings printed on standard error and is not drawn. "
            + _PROGRESS,
        ),
        (
            (0, "drawn, whatever the spec's findings"),
            (1, "the spec does not load"),
            (
                2,
                "a usage error: no such spec, an unknown format or file ending, an "
                "output that cannot be written, no Graphviz 'dot' for svg or png",
            ),
        ),
    ),
    "explain": Help(
        "print a rule's definition and examples",
        (
            "Print RULE's definition, severity and family, with a spec that fails it and "
            "one that passes, on standard output.",
        ),
        (
            (0, "printed"),
            (2, "no rule has that id (the closest ids are suggested)"),
        ),
    ),
    "new": Help(
        "scaffold a spec that passes the checker",
        (
            "Write a new spec for machine NAME that passes every rule: idle, running, an "
            "approval gate with approve, reject and timeout exits, a failed state with "
            "reason codes and recovery steps, complete. Its first line points editors at "
            "the installed JSON Schema: by a relative path inside a clone of statewright, "
            "by its absolute path anywhere else (see statewright schema).",
            "It goes to specs/NAME.yaml, or the file -o names; an existing file is never "
            "overwritten. The path written is printed on standard output.",
        ),
        (
            (0, "written"),
            (2, "NAME is not snake_case, the file exists, or it cannot be written"),
        ),
    ),
    "schema": Help(
        "print where the spec format's JSON Schema is, for editors",
        (
            "Print the absolute path of the JSON Schema of the spec format that ships with "
            "this statewright, on standard output: for a modeline (# yaml-language-server: "
            "$schema=PATH), an editor's settings, or a copy to keep in your repository "
            '(cp "$(statewright schema)" .).',
        ),
        ((0, "printed"), (2, "a usage error: it takes no argument")),
    ),
    "import": Help(
        "write the statewright spec of another format (asl: AWS Step Functions)",
        (
            "Write the statewright spec of an AWS Step Functions definition (Amazon "
            "States Language). The state machine's spec goes to -o SPEC, or to standard "
            "output; each Parallel branch and Map iterator is a machine of its own, "
            "written beside SPEC as <machine>.yaml. What the mapping cannot express is "
            "listed as info findings on standard error.",
            "Nothing is overwritten: a file in the way is a usage error, and then nothing "
            "is written; so are a symbolic link where a spec goes and a name longer than "
            "the file system allows. The specs are written all or nothing.",
        ),
        (
            (0, "written"),
            (1, "the definition does not load (its findings go to standard error)"),
            (
                2,
                "a usage error: no such file, a file in the way, a symbolic link, a name "
                "too long, an unwritable output",
            ),
        ),
    ),
    "audit": Help(
        "work with a durable audit store",
        (
            "Read the audit store that generated runtimes write with SqlStore (a SQLite "
            "file or a postgresql:// URL): 'verify' checks every instance's hash chain and "
            "head row, 'head' prints where each chain ends. Neither creates nor writes anything in "
            "the store.",
        ),
        (
            (0, "as the action says"),
            (1, "audit verify: a chain or a head row is broken"),
            (2, "a usage error, or the store cannot be opened"),
        ),
    ),
    "audit verify": Help(
        "check every instance's hash chain and head row; report the first broken record",
        (
            "Check every instance's hash chain in the store, and recompute its head row "
            "from its records: the state, and the deadline for every machine whose spec "
            "--specs holds (the specs' timers say how long each state may rest; a line "
            "names each machine whose deadlines could not be recomputed). The first broken "
            "record (or the wrong row) of each instance is printed on standard output, "
            "then a summary line.",
            "With --against FILE, also check that every chain still extends the heads "
            "'statewright audit head' wrote to FILE earlier: that finds a truncated or "
            "rewritten chain, which the chain alone cannot.",
        ),
        (
            (0, "every chain is intact"),
            (
                1,
                "a record was altered, removed or reordered, or a head row is not what its "
                "records give",
            ),
            (2, "the store cannot be opened, or FILE is no output of 'audit head'"),
        ),
    ),
    "audit head": Help(
        "print where every instance's chain ends (JSON lines), to keep as a witness",
        (
            "Print where every instance's chain ends on standard output, one JSON object "
            "a line (machine, instance_id, seq, hash). Keep it outside the database (a "
            "separate log, a ticket, a signed file); a later 'statewright audit verify "
            "--against FILE' then finds a truncated or rewritten chain.",
        ),
        (
            (0, "printed"),
            (2, "the store cannot be opened"),
        ),
    ),
    "runs": Help(
        "the operators' view of a store's instances",
        (
            "Read a durable store (a SQLite file or a postgresql:// URL) and show what its "
            "instances are doing: 'runs list' for all of them, 'runs show' for one "
            "instance's timeline. Both only read, and print on standard output; 'runs "
            "release' lifts an instance's quarantine.",
        ),
        ((0, "shown"), (2, "a usage error, or the store or the instance cannot be found")),
    ),
    "runs list": Help(
        "instances by state, approvals waiting with deadlines, effects due",
        (
            "Print on standard output every instance of the store by machine and state, "
            "the approvals waiting with their deadlines (OVERDUE once past), the "
            "effects due or failing in the outbox and the instances quarantined (with "
            "when and why); --format json prints one object "
            "instead. The specs (--specs) give states their kinds, reviewers and "
            "recovery procedures.",
            "Every chain and head row is verified first (one hash per record, as 'audit "
            "verify' does): an instance that fails is listed as TAMPERED, apart from the "
            "counts. Ids, states and messages from the store are printed escaped.",
        ),
        ((0, "listed"), (2, "a usage error, or the store cannot be opened")),
    ),
    "runs release": Help(
        "lift an instance's quarantine: workers deliver and sweep it again",
        (
            "A worker quarantines an instance that failed max_attempts times (or at once, "
            "when it cannot be trusted): it skips it in claims and timeout sweeps, and "
            "'runs list' shows it with its last error. Once the cause is mended (the "
            "handler, the deployed spec, the data), release it: its failed attempts are "
            "forgotten and the next worker round delivers it and fires its due timeouts. "
            "Says what it released on standard output.",
        ),
        (
            (0, "released"),
            (2, "a usage error, the store cannot be opened, or no such quarantine"),
        ),
    ),
    "runs show": Help(
        "one instance's audit timeline: actors, decisions, reasons, snapshots",
        (
            "Print on standard output one instance's audit timeline, record by record: "
            "when, what moved it where, who acted and their decision, the failure reasons "
            "with their recovery procedures and the failure snapshots; --format json "
            "prints one object instead.",
            "It prints at most --limit records (1000) from record --from (1); the last "
            "line says how to go on. The whole chain is verified as it is read, a chunk "
            "at a time, keeping only the page: a tampered instance is refused with one "
            "line on standard error and none of its records. Ids, actors and decisions "
            "are printed escaped.",
        ),
        (
            (0, "shown"),
            (1, "the instance is tampered: its records or its head row fail verification"),
            (2, "a usage error, or the store or the instance cannot be found"),
        ),
    ),
}
"""The help of each command, by its words after ``statewright``."""

TOP = Help(
    "",
    (
        "Model-checked state-machine specifications with code generation.",
        "Run 'statewright COMMAND --help' for what a command does, each of its "
        "arguments, what it writes where and its exit status.",
    ),
    (
        (0, "success: no finding is an error"),
        (1, "a finding is an error (generate --check: a difference; audit: a broken chain)"),
        (2, "a usage error"),
    ),
)
"""The help of ``statewright`` itself."""
