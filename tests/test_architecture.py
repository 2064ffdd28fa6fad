"""The import direction of docs/architecture.md, read from the code (an ast walk, nothing imported):
scripts -> ipa_finetune -> hf_wrapper.py -> model.py -> torch, and inside the package each layer
imports only the layers below it (or its own folder), the pipelines never import each other, and no
circle anywhere."""
import ast
import os

from ipa_finetune.files import PROJECT_ROOT

PACKAGE = "ipa_finetune"
# Layers of the package, lowest first: a module may import a strictly lower layer or its own folder.
# The last layer is the four pipelines: siblings, each importing only the shared layers below.
LAYERS = (
    ("ipa_finetune.errors", "ipa_finetune.cpus"),
    ("ipa_finetune.cli",),
    ("ipa_finetune.files", "ipa_finetune.seq2seq_layout", "ipa_finetune.text_metrics"),
    ("ipa_finetune.config",),
    ("ipa_finetune.checkpoint",),
    ("ipa_finetune.inputs",),
    ("ipa_finetune.runs", "ipa_finetune.predictions", "ipa_finetune.manifest", "ipa_finetune.slurm",
     "ipa_finetune.provenance"),
    ("ipa_finetune.prepare", "ipa_finetune.train", "ipa_finetune.launch", "ipa_finetune.report"),
)
# model.py is nanoGPT's file: copied out alone, it must still work.
MODEL_MAY_IMPORT = {"torch", "math", "inspect", "dataclasses"}
WRAPPER_MAY_IMPORT = {"torch", "transformers", "huggingface_hub", "model", "math", "dataclasses"}
NEVER_IMPORTED = ("tests", "bench", "demo", "conftest")  # nothing of the package depends on these


def module_files(root):
    """{module name: file} for model.py, hf_wrapper.py and every module of the package under root."""
    found = {name: os.path.join(root, f"{name}.py") for name in ("model", "hf_wrapper")
             if os.path.isfile(os.path.join(root, f"{name}.py"))}
    for folder, _, files in os.walk(os.path.join(root, PACKAGE)):
        rel = os.path.relpath(folder, root).replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                found[rel if f == "__init__.py" else f"{rel}.{f[:-3]}"] = os.path.join(folder, f)
    return found


def imports_of(name, path, modules):
    """Every module `name` imports (function-level imports included), as absolute names; a
    `from package import x` names the submodule x when there is one."""
    is_package = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else base)
    return out


def layer_of(module):
    for rank, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return rank
    return None


def folder_of(module):
    return module.rsplit(".", 1)[0] if module.count(".") >= 2 else module


def import_problems(root):
    """One line per import against the direction, and per circle."""
    modules = module_files(root)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    problems = []
    for name, deps in sorted(graph.items()):
        tops = {d.split(".")[0] for d in deps}
        if name == "model" and tops - MODEL_MAY_IMPORT:
            problems.append(f"model.py imports {sorted(tops - MODEL_MAY_IMPORT)}")
        if name == "hf_wrapper" and tops - WRAPPER_MAY_IMPORT:
            problems.append(f"hf_wrapper.py imports {sorted(tops - WRAPPER_MAY_IMPORT)}")
        for dep in sorted(deps):
            if dep.split(".")[0] in NEVER_IMPORTED:
                problems.append(f"{name} imports {dep}")
            if not name.startswith(PACKAGE + ".") or not dep.startswith(PACKAGE + "."):
                continue
            mine, theirs = layer_of(name), layer_of(dep)
            if folder_of(name) == folder_of(dep):
                continue
            if mine == theirs == len(LAYERS) - 1:
                problems.append(f"{name} imports {dep}: pipelines are siblings; move what they share "
                                "into the shared layer")
            elif mine is None or theirs is None or theirs >= mine:
                problems.append(f"{name} (layer {mine}) imports {dep} (layer {theirs}): against the "
                                "direction")
    problems += [f"circle: {' -> '.join(c)}" for c in circles(graph)]
    return problems


def circles(graph):
    """Import circles among the modules of `graph`: one per back edge of a depth-first walk, each
    written from its smallest member."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == "open":
                ring = path[path.index(dep):]
                start = ring.index(min(ring))
                cycle = ring[start:] + ring[:start] + [min(ring)]
                if cycle not in found:
                    found.append(cycle)
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_project_imports_one_way():
    assert import_problems(PROJECT_ROOT) == []


def test_the_check_finds_a_back_up_import_a_sibling_import_and_a_circle(tmp_path):
    """The checker itself, on a small tree that breaks each rule once."""
    files = {
        "model.py": "import torch\nimport os\n",                                  # os: not allowed
        "hf_wrapper.py": "import model\nfrom ipa_finetune.errors import UserError\n",
        "ipa_finetune/__init__.py": "",
        "ipa_finetune/errors.py": "",
        "ipa_finetune/files.py": "from .report import tables\n",                 # up from layer 2
        "ipa_finetune/report/__init__.py": "",
        "ipa_finetune/report/tables.py": "from . import plots\n",
        "ipa_finetune/report/plots.py": "def f():\n    from .tables import x\n",  # a circle
        "ipa_finetune/launch/__init__.py": "",
        "ipa_finetune/launch/jobs.py": "from ..report import plots\n",           # a sibling pipeline
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    problems = import_problems(str(tmp_path))
    assert "model.py imports ['os']" in problems
    assert "hf_wrapper.py imports ['ipa_finetune']" in problems
    assert any(p.startswith("ipa_finetune.files (layer 2) imports ipa_finetune.report.tables") for p in problems)
    assert "circle: ipa_finetune.report.plots -> ipa_finetune.report.tables -> ipa_finetune.report.plots" \
        in problems
    assert "ipa_finetune.launch.jobs imports ipa_finetune.report.plots: pipelines are siblings; move what " \
        "they share into the shared layer" in problems
    assert len(problems) == 5, problems


def python_files(root):
    """Every .py file of the project outside tests/ and hidden folders (.venv)."""
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d != "tests"]
        yield from (os.path.join(folder, f) for f in files if f.endswith(".py"))


def long_functions(root, limit=45):
    """{"file:function": lines} of every function longer than `limit` lines (docstring included)."""
    found = {}
    for path in python_files(root):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (n := node.end_lineno - node.lineno + 1) > limit:
                    found[f"{os.path.relpath(path, root)}:{node.name}"] = n
    return found


def test_no_function_is_long(tmp_path):
    """Short functions (< ~40 lines, as nanoGPT's): none over 45 outside tests. The check itself
    finds a long one."""
    assert long_functions(PROJECT_ROOT) == {}
    (tmp_path / "x.py").write_text("def f():\n" + "    pass\n" * 45)
    assert long_functions(str(tmp_path)) == {"x.py:f": 46}


def test_no_module_is_long():
    """~300-line files, nanoGPT's model.py as the model; no script or module over ~450 (tests aside)."""
    long = {}
    for path in python_files(PROJECT_ROOT):
        with open(path, encoding="utf-8") as f:
            if (n := sum(1 for _ in f)) > 450:
                long[os.path.relpath(path, PROJECT_ROOT)] = n
    assert long == {}
