"""``kdbook``: execute the chapter notebooks and build the book.

    kdbook run [NOTEBOOK ...] --profile smoke|quick|paper [-p NAME VALUE ...] [--device auto|cpu|cuda]
    kdbook build [--no-strict]
    kdbook claims
    kdbook list
"""

from __future__ import annotations

import argparse
import sys

from kdlib import book, profiles


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kdbook", description="Execute and build the kd-wide book.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks with papermill into book/generated")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="names or prefixes (default: all)")
    run.add_argument("--profile", default="quick", help=f"one of {', '.join(profiles.PROFILES)} (default quick)")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter (repeatable)")
    run.add_argument("--force", action="store_true", help="re-execute even when a cached execution matches")

    build = commands.add_parser("build", help="build the HTML book from executed notebooks")
    build.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")

    commands.add_parser("claims", help="print every claim's verdict from the executed notebooks")
    commands.add_parser("list", help="list notebooks and their parameters")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        root = book.find_root()
        if args.command == "run":
            parameters = {name: book.parse_value(value) for name, value in args.parameter}
            book.run_notebooks(args.notebooks, profile=args.profile, device=args.device,
                               parameters=parameters, force=args.force, root=root)
        elif args.command == "build":
            index = book.build_book(root, strict=not args.no_strict)
            print(f"[kdbook] book built: open file://{index}")
        elif args.command == "claims":
            from kdlib import report

            found = report.chapters(root)
            if not any(chapter.claims for chapter in found):
                raise book.BookError("no executed notebooks with claims; run `kdbook run` first")
            print(report.claims_text(root, found))  # the scorecard page's table, in the terminal
            if any(not claim.ok and claim.kind == "check" for chapter in found for claim in chapter.claims):
                return 1
        elif args.command == "list":
            for stem, path in book.available_notebooks(root).items():
                params = ", ".join(f"{k}={v!r}" for k, v in book.notebook_parameters(path).items())
                print(f"{stem}: {params}")
    except book.BookError as error:
        print(f"kdbook: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
