"""The two layers: the mathematics never imports the machinery, nothing imports in a cycle, and the
cache keys cover exactly the kdlib modules a computation can run."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdlib.book import core, results
from kdlib.book.notebooks import notebook_modules

PACKAGE = core.PACKAGE_DIR
ROOT = PACKAGE.parent


def _all_modules(package_dir: Path = PACKAGE) -> list[str]:
    names = []
    for path in package_dir.rglob("*.py"):
        parts = path.relative_to(package_dir).with_suffix("").parts
        names.append(".".join(("kdlib", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("kdlib", *parts)))
    return sorted(names)


def test_the_mathematics_never_imports_the_machinery():
    for name in _all_modules():
        if name.startswith("kdlib.book"):
            continue
        imported = core._imported_modules(name, core._module_file(name, PACKAGE), PACKAGE)
        assert not [m for m in imported if m.startswith("kdlib.book")], name


def test_importing_kdlib_loads_no_book_machinery_and_no_book_dependency():
    code = ("import sys, kdlib; bad = [m for m in sys.modules if m.startswith(('kdlib.book', 'papermill', "
            "'jupyter_book', 'distributed', 'matplotlib'))]; print(bad); sys.exit(bool(bad))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def _top_level_graph() -> dict[str, set[str]]:
    """Imports executed at import time (module level only): the ones that can form a cycle."""
    graph = {}
    for name in _all_modules():
        path = core._module_file(name, PACKAGE)
        tree = ast.parse(path.read_bytes())
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module if not node.level else package
                found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = {m for m in found if core._module_file(m, PACKAGE) and m != name and m not in package}
    return graph


def test_no_import_cycle_among_kdlib_modules():
    graph = _top_level_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " → ".join([*trail, node, nxt]))
            if not state.get(nxt):
                visit(nxt, [*trail, node])
        state[node] = 2

    for name in graph:
        if not state.get(name):
            visit(name, [])


def test_function_level_kdlib_imports_say_why():
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import) and id(node) not in top:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(n.startswith("kdlib") for n in names):
                    text = lines[node.lineno - 1] + (lines[node.lineno - 2] if node.lineno > 1 else "")
                    assert "#" in text, f"{path.name}:{node.lineno} imports kdlib inside a function without a reason"


@pytest.fixture
def package_copy(tmp_path):
    copy = tmp_path / "kdlib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _keys(package_dir: Path) -> dict[str, str]:
    core._fingerprint.cache_clear()
    tasks = {
        "kernels": core.module_fingerprint(["kdlib.kernels"], package_dir=package_dir),
        "logits": core.module_fingerprint(["kdlib.logits"], package_dir=package_dir),
        "student": core.module_fingerprint(["kdlib.student"], package_dir=package_dir),
        "notebook-01": core.module_fingerprint(notebook_modules(ROOT / "notebooks" / "01-effective-student.py"),
                                               package_dir=package_dir),
    }
    core._fingerprint.cache_clear()
    return tasks


def test_editing_pages_or_cli_keeps_every_key(package_copy):
    before = _keys(package_copy)
    for module in ("report.py", "cli.py", "sphinxext.py", "executor.py", "notebooks.py"):
        with open(package_copy / "book" / module, "a") as handle:
            handle.write("\n# an unrelated edit\n")
    assert _keys(package_copy) == before


def test_editing_kernels_changes_the_keys_of_its_users_only(package_copy):
    before = _keys(package_copy)
    with open(package_copy / "kernels.py", "a") as handle:
        handle.write("\n# a kernel edit\n")
    after = _keys(package_copy)
    assert after["kernels"] != before["kernels"]
    assert after["logits"] == before["logits"]  # logits does not import kernels
    assert after["student"] == before["student"]
    assert after["notebook-01"] != before["notebook-01"]  # `from kdlib import ...` runs kdlib/__init__


def test_editing_claims_changes_chapter_keys_but_no_task_key(package_copy):
    before = _keys(package_copy)
    with open(package_copy / "book" / "claims.py", "a") as handle:
        handle.write("\n# wording\n")
    after = _keys(package_copy)
    assert after["notebook-01"] != before["notebook-01"]
    assert {k: v for k, v in after.items() if k != "notebook-01"} == {
        k: v for k, v in before.items() if k != "notebook-01"}


def test_task_key_covers_the_function_module_closure():
    from kdlib import effective_logits, ntk_kernel

    assert "kdlib.kernels" in results.task_modules(ntk_kernel)
    assert "kdlib.kernels" not in results.task_modules(effective_logits)
    assert not [m for m in results.task_modules(ntk_kernel) if m.startswith("kdlib.book")]
