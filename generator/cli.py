"""The ``statewright`` command: arguments, exit codes, nothing else.

Exit status: 0 when no finding is an error (``--strict``: no warning either), 1 when one
is (or ``generate --check`` found a difference), 2 for a usage error or a path that does
not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from generator import __version__
from verify.check import CheckResult, check_file
from verify.discover import MissingPath, discover
from verify.report import RENDERERS, exit_status, plural

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statewright",
        description="Model-checked state-machine specifications with code generation.",
    )
    parser.add_argument("--version", action="version", version=f"statewright {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="prove specs complete; report findings")
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or folders (default: specs/)",
    )
    check.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="report format (default: text)"
    )
    check.add_argument("--strict", action="store_true", help="warnings fail too")

    paths = sub.add_parser("paths", help="print the covering trigger sequences of a spec")
    paths.add_argument("spec", type=Path, metavar="SPEC")

    generate = sub.add_parser("generate", help="generate runtimes, tests and diagrams")
    generate.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or folders (default: specs/)",
    )
    generate.add_argument(
        "--out", type=Path, default=Path("generated"), help="output folder (default: generated/)"
    )
    generate.add_argument(
        "--check",
        action="store_true",
        help="render in memory; exit 1 with a diff when the output differs",
    )

    diagram = sub.add_parser("diagram", help="draw a spec, with its findings marked")
    diagram.add_argument("spec", type=Path, metavar="SPEC")
    diagram.add_argument("--format", choices=["svg", "dot", "mermaid", "png"], default="svg")
    diagram.add_argument("-o", "--output", type=Path, default=None, metavar="FILE")

    explain = sub.add_parser("explain", help="print a rule's definition and examples")
    explain.add_argument("rule", metavar="RULE", help="a rule id, e.g. dead-end")

    new = sub.add_parser("new", help="scaffold a spec that passes the checker")
    new.add_argument("name", metavar="NAME", help="the machine's snake_case name")
    new.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write it (default: specs/NAME.yaml); never overwritten",
    )

    audit = sub.add_parser("audit", help="work with a durable audit store")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify", help="check every instance's hash chain; report the first broken record"
    )
    verify.add_argument(
        "target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
    )
    return parser


def _check(args: argparse.Namespace, out: TextIO) -> int:
    results = [check_file(path) for path in discover(args.paths)]
    out.write(RENDERERS[args.format](results, args.strict))
    return exit_status(results, args.strict)


def _paths(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.spec.is_dir():
        err.write(f"statewright: error: {args.spec} is a folder; name one spec file\n")
        return EXIT_USAGE
    (path,) = discover([args.spec])
    result: CheckResult = check_file(path)
    if result.spec is None or result.coverage is None:
        for finding in result.findings:
            err.write(finding.format() + "\n")
        return EXIT_FINDINGS
    coverage = result.coverage
    for number, sequence in enumerate(coverage.paths, start=1):
        out.write(f"{number}: {' '.join(sequence) if sequence else '(initial state only)'}\n")
    out.write(
        f"# {coverage.covered}/{coverage.total} transitions covered by "
        f"{plural(len(coverage.paths), 'path')} of "
        f"{plural(sum(map(len, coverage.paths)), 'trigger')}\n"
    )
    return EXIT_OK if coverage.covered == coverage.total else EXIT_FINDINGS


def _explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from verify.explain import close_matches, explain_text
    from verify.rules import RULES

    if args.rule in RULES:
        out.write(explain_text(RULES[args.rule]))
        return EXIT_OK
    near = close_matches(args.rule)
    hint = f"did you mean {', '.join(near)}?" if near else f"rule ids: {', '.join(RULES)}"
    err.write(f"statewright: error: unknown rule {args.rule!r}; {hint}\n")
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "check":
            return _check(args, out)
        if args.command == "paths":
            return _paths(args, out, err)
        if args.command == "generate":
            from generator.write import generate_command

            return generate_command(args.paths, args.out, args.check, stdout=out, stderr=err)
        if args.command == "diagram":
            from generator.diagram import diagram_command

            return diagram_command(args.spec, args.format, args.output, stdout=out, stderr=err)
        if args.command == "explain":
            return _explain(args, out, err)
        if args.command == "new":
            from generator.scaffold import new_command

            return new_command(args.name, args.output, stdout=out, stderr=err)
        if args.command == "audit":
            from generator.audit import audit_command

            return audit_command(args.target, stdout=out, stderr=err)
    except MissingPath as missing:
        err.write(f"statewright: error: {missing}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
