"""The package's layout rules, read from the source with ``ast`` (no module is imported).

* imports point only downward through the role packages (``LAYERS``), and no two modules import
  each other, directly or through others;
* no private (underscore) name is imported from another module;
* imports inside functions are only of heavy or optional third-party packages (``LAZY_OK``);
* no module is over 400 lines; each has a docstring and ``__all__``;
* Streamlit is imported only by the app.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "se_analysis"
LAYERS = ["utils", "gates", "data", "models", "runs", "analysis", "ablation", "microscope", "plots", "views", "export", "cli", "app"]
# Imported inside functions because they cost start-up time or are needed on one path only (measured:
# timm ~1.5 s, scipy.stats ~0.3 s, torchvision.models ~0.5 s; ai_edge_litert and kaleido are only for
# the fidelity check and static images).
LAZY_OK = {"timm", "scipy", "ai_edge_litert", "kaleido", "huggingface_hub", "torch.hub", "torchvision",
           "plotly.offline", "plotly.io", "torch.utils.flop_counter", "torch.distributed", "tqdm", "pyarrow",
           "safetensors"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    is_pkg = MODULES[module].name == "__init__.py"
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, top_level_only: bool) -> list[tuple[str, list[str], ast.AST]]:
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            out.append((_resolve(module, node), [a.name for a in node.names], node))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node) for a in node.names)
    return out


def _target_module(imported: str, names: list[str]) -> list[str]:
    """The se_analysis modules an import statement loads (``from pkg import mod`` loads pkg.mod)."""
    if imported not in MODULES:
        return []
    subs = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in MODULES]
    return subs or [imported]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_the_layers_are_the_packages():
    assert sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").exists()) == sorted(LAYERS)


def test_imports_point_only_downward():
    wrong = []
    for module in MODULES:
        mine = _layer(module)
        if mine is None:  # se_analysis/__init__ and __main__ sit above everything
            continue
        for imported, names, node in _imports(module, top_level_only=False):
            for target in _target_module(imported, names):
                theirs = _layer(target)
                if theirs is not None and theirs > mine:
                    wrong.append(f"{module}:{node.lineno} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = {m: {t for imp, names, _ in _imports(m, top_level_only=False) for t in _target_module(imp, names)}
             for m in MODULES}
    # a package's __init__ re-exports its modules; a module importing its own package's __init__ would cycle
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if t == m or (m.startswith(t + ".") and MODULES[t].name == "__init__.py" and m != t):
                if t != m and m.startswith(t + "."):
                    cycles.append(f"{m} imports its own package {t}")
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]) if t in stack else f"{m} -> {t}")
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_no_private_name_crosses_a_module():
    wrong = [f"{m}:{node.lineno} imports {n} from {imp}"
             for m in MODULES for imp, names, node in _imports(m, top_level_only=False)
             if imp.startswith("se_analysis") for n in names if n.startswith("_") and n != "__version__"]
    assert not wrong, "\n".join(wrong)


def test_imports_inside_functions_are_only_heavy_or_optional_packages():
    wrong = []
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                names = [_resolve(m, node)] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    if not any(name == ok or name.startswith(ok + ".") for ok in LAZY_OK):
                        wrong.append(f"{m}:{node.lineno} imports {name} inside a function")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small_documented_and_declares_its_api(module):
    path = MODULES[module]
    source = path.read_text()
    assert len(source.splitlines()) <= 400, f"{path} has {len(source.splitlines())} lines"
    tree = ast.parse(source)
    assert ast.get_docstring(tree), f"{path} has no docstring"
    if path.name not in ("__main__.py",) and not module.startswith("se_analysis.app.pages.") and module != "se_analysis.app":
        assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)
                   for n in tree.body), f"{path} has no __all__"


def test_only_the_app_imports_streamlit():
    wrong = [f"{m}:{node.lineno}" for m in MODULES if not m.startswith("se_analysis.app")
             for imp, names, node in _imports(m, top_level_only=False) if imp.split(".")[0] == "streamlit"]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py" and m.count(".") >= 1
                                           and not m.startswith(("se_analysis.app", "se_analysis.cli"))))
def test_a_package_exports_the_api_of_its_modules(package):
    pkg = importlib.import_module(package)
    missing = []
    for module in MODULES:
        if module.rsplit(".", 1)[0] == package and MODULES[module].name != "__init__.py":
            mod = importlib.import_module(module)
            missing += [f"{module}.{n}" for n in getattr(mod, "__all__", []) if n not in pkg.__all__]
    assert not missing, f"{package}.__all__ lacks " + ", ".join(missing)
