"""``kdbook``: execute the chapter notebooks and build the book.

    kdbook run [NOTEBOOK ...] --profile smoke|quick|paper [-p NAME VALUE ...] [--device auto|cpu|cuda]
               [--scheduler tcp://host:port | --cluster local|slurm] [--workers N] [--cluster-config FILE]
    kdbook build [--no-strict] [--publish-failed]
    kdbook cache info|clear [--notebooks | --results]
    kdbook claims
    kdbook list
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from kdlib.book import executor, profiles, report
from kdlib.book import notebooks as book
from kdlib.book.results import ResultCache


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
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run notebooks on a dask scheduler, tcp://host:port")
    where.add_argument("--cluster", choices=("local", "slurm"),
                       help="start a dask LocalCluster, or a SLURMCluster from cluster.yaml, and run notebooks on it")
    run.add_argument("--workers", type=int, metavar="N",
                     help="workers of --cluster (slurm: GPUs); alone: a local process pool of N")
    run.add_argument("--cluster-config", metavar="FILE", help="cluster.yaml for --cluster slurm (default: the book's)")

    cache = commands.add_parser("cache", help="size report of, or clear, the execution and result caches")
    cache.add_argument("action", choices=("info", "clear"))
    which = cache.add_mutually_exclusive_group()
    which.add_argument("--notebooks", action="store_true", help="only executed notebooks")
    which.add_argument("--results", action="store_true", help="only sweep results")

    build = commands.add_parser("build", help="build the HTML book from executed notebooks")
    build.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    build.add_argument("--publish-failed", action="store_true",
                       help="build even when a chapter failed (marked FAILED on its page, scorecard and status)")

    commands.add_parser("claims", help="print every claim's verdict from the executed notebooks")
    commands.add_parser("list", help="list chapters and their settings per profile")
    return parser


def _list(root: Path) -> None:
    """``kdbook list``: each chapter, its notebook parameters and its settings with their value per profile."""
    for stem, path in book.available_notebooks(root).items():
        cell = [name for name in book.notebook_parameters(path) if name not in ("profile", "device", "overrides")]
        print(f"{stem}  (parameters: profile, device, {', '.join(cell)}; settings: -p NAME VALUE)")
        rows = profiles.describe(stem)
        if not rows:
            print("    no settings")
        width = max((len(name) for name, _, _ in rows), default=0)
        for name, meaning, values in rows:
            per_profile = "  ".join(f"{profile}={value!r}" for profile, value in values.items())
            print(f"    {name:<{width}}  {per_profile}\n    {'':<{width}}  ({meaning})")
        print()


def _cache(root: Path, args: argparse.Namespace) -> None:
    """``kdbook cache info|clear``: what the two caches hold (files, MiB), or delete it."""
    folders = []
    if not args.results:  # executed chapters, and those an older version cached as plain .ipynb
        folders.append(("executed notebooks", book.cache_dir(root), (f"*{book.NOTEBOOK_SUFFIX}", "*.ipynb")))
    stores = [] if args.notebooks else [ResultCache(book.cache_root(root) / "results")]
    for label, folder, patterns in folders:
        files = sorted({path for pattern in patterns for path in folder.glob(pattern)}) if folder.is_dir() else []
        size = sum(path.stat().st_size for path in files)
        if args.action == "clear":
            for path in files:
                path.unlink()
            print(f"[kdbook] cleared {label}: {len(files)} file(s), {size / 2**20:.2f} MiB ({folder})")
        else:
            print(f"[kdbook] {label}: {len(files)} file(s), {size / 2**20:.2f} MiB ({folder})")
    for store in stores:
        info = store.clear() if args.action == "clear" else store.info()
        print(f"[kdbook] {'cleared ' if args.action == 'clear' else ''}sweep results: {info.describe()}")


def _readable_notebooks(root: Path) -> None:
    """Every executed notebook in book/generated parses, else a BookError naming it (not a traceback)."""
    for stem, path in book.executed_notebooks(root).items():
        try:
            json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise book.BookError(f"{path} is not a readable notebook ({type(error).__name__}: {error}); "
                                 f"run `kdbook run {stem}` again") from None


def _run(root: Path, args: argparse.Namespace) -> None:
    """``kdbook run``: check everything (options, $KDLIB_EXECUTOR, chapters, parameters, cluster config)
    before starting a kernel, a pool or a cluster; then run."""
    parameters = {name: book.parse_value(value) for name, value in args.parameter}
    if args.workers is not None and args.workers < 1:
        raise book.BookError(f"--workers must be a positive integer, got {args.workers}")
    if args.cluster_config is not None and args.cluster != "slurm":
        raise book.BookError("--cluster-config is read by --cluster slurm only")
    try:
        executor.check_executor_spec(os.environ.get("KDLIB_EXECUTOR"))
    except ValueError as error:
        raise book.BookError(str(error)) from None
    book.plan_run(args.notebooks, profile=args.profile, device=args.device, parameters=parameters, root=root)
    if args.scheduler is None and args.cluster is None and (args.workers or 1) == 1:
        book.run_notebooks(args.notebooks, profile=args.profile, device=args.device,
                           parameters=parameters, force=args.force, root=root)
        return
    try:
        pool = executor.open_executor(scheduler=args.scheduler, cluster=args.cluster,
                                      workers=args.workers, config=args.cluster_config)
    except (ValueError, executor.ExecutorError) as error:
        raise book.BookError(str(error)) from None
    with pool:
        book.run_notebooks(args.notebooks, profile=args.profile, device=args.device,
                           parameters=parameters, force=args.force, root=root, executor=pool)


def _claims(root: Path) -> int:
    """``kdbook claims``: the scorecard; non-zero when a check fails or a chapter's last run failed."""
    _readable_notebooks(root)
    found = report.chapters(root)
    failed = [chapter for chapter in found if chapter.failed]
    if not failed and not any(chapter.claims for chapter in found):
        raise book.BookError("no executed notebooks with claims; run `kdbook run` first")
    print(report.claims_text(root, found))  # the scorecard page's table, in the terminal
    if failed:
        reasons = "; ".join(f"{chapter.stem} ({(chapter.run.get('error') or 'failed').splitlines()[0]})"
                            for chapter in failed)
        print(f"kdbook: error: {len(failed)} chapter(s) failed, so their claims are missing or incomplete: "
              f"{reasons}", file=sys.stderr)
        return 1
    if any(not claim.ok and claim.kind == "check" for chapter in found for claim in chapter.claims):
        return 1
    return 0


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    print(f"kdbook: warning: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # restored on leaving the block
        try:
            root = book.find_root()
            if args.command == "run":
                _run(root, args)
            elif args.command == "cache":
                _cache(root, args)
            elif args.command == "build":
                _readable_notebooks(root)
                index = book.build_book(root, strict=not args.no_strict, publish_failed=args.publish_failed)
                print(f"[kdbook] book built: open file://{index}")
            elif args.command == "claims":
                return _claims(root)
            elif args.command == "list":
                _list(root)
        except book.BookError as error:
            print(f"kdbook: error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
