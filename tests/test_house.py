"""The house: laid out as PyTorch lays itself out, dependencies one way, no module too long to read.

The package's layers, lowest first: the private helpers (``_checks``,
``_numerics`` ...), ``nn``, then what builds on it (``optim``, ``utils``,
``datasets``, ``models``, checkpoints), then ``autograd``, then the tools
(``testing``, ``interop``, ``grader``), then ``train`` and the command line.
A module may import from its own layer or below, never above, and no chain
of imports may come back to where it started.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import manualnet as mn
from manualnet import _aliases

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "manualnet"
MAX_LINES = 500

LAYERS = [
    ("private helpers", ("manualnet._checks", "manualnet._numerics", "manualnet._rng", "manualnet._grad_mode",
                         "manualnet._progress", "manualnet._main_guard", "manualnet._structure", "manualnet._threads")),
    ("nn", ("manualnet.nn",)),
    ("built on nn", ("manualnet.optim", "manualnet.utils", "manualnet.datasets", "manualnet.models",
                     "manualnet.model_record", "manualnet._checkpoint_format", "manualnet.serialization",
                     "manualnet.registry")),
    ("autograd", ("manualnet.autograd",)),
    ("tools", ("manualnet.testing", "manualnet.interop", "manualnet.grader")),
    ("training and the command line", ("manualnet.train", "manualnet.train_gpt", "manualnet.cli",
                                       "manualnet.__main__")),
    ("the package's front door", ("manualnet", "manualnet._aliases")),
]


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(name):
    return MODULES[name].name == "__init__.py"


def imports_of(name):
    """Every manualnet module ``name`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            package = name if is_package(name) else name.rpartition(".")[0]
            base = node.module or ""
            if node.level:
                package = ".".join(package.split(".")[:len(package.split(".")) - (node.level - 1)])
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {target for target in found if target in MODULES and target != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def layer_of(name):
    matches = [(len(prefix), rank) for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if name == prefix or (name.startswith(prefix + ".") and prefix != "manualnet")]
    assert matches, f"{name} belongs to no layer of the house: add it to LAYERS"
    return max(matches)[1]


def test_no_import_goes_up_the_house():
    wrong = [f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
             for name, targets in GRAPH.items() for target in sorted(targets) if layer_of(target) > layer_of(name)]
    assert not wrong, "imports from a lower layer of the house to a higher one:\n  " + "\n  ".join(wrong)


def test_nothing_imports_the_command_line():
    users = [name for name, targets in GRAPH.items() for target in targets
             if target.startswith("manualnet.cli") and not name.startswith("manualnet.cli") and name != "manualnet.__main__"]
    assert not users


def cycles(graph):
    """Every strongly connected component of more than one module (Tarjan), or of one that imports itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert not cycles(GRAPH), f"import circles: {cycles(GRAPH)}"


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_reads_in_one_sitting(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines; split it by idea"


MARKER = re.compile(r"\bissues? \d+\b", re.IGNORECASE)


@pytest.mark.slow
def test_no_history_in_the_code():
    """Comments say what and why, not when: git keeps which issue brought a line."""
    folders = ("manualnet", "examples", "exercises", "docs")
    found = [f"{path.relative_to(ROOT)}:{number}" for folder in folders for path in (ROOT / folder).rglob("*.py")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if MARKER.search(line)]
    assert not found, "issue markers: " + ", ".join(found)


# -- the public namespace -----------------------------------------------------------------------

HOMES = {"nn", "optim", "utils", "autograd", "datasets", "models", "testing", "interop", "serialization"}


def test_the_namespace_is_the_layers_the_homes_and_save_and_load():
    names = set(dir(mn))
    layers = {name for name in names if isinstance(getattr(mn, name), type)
              and issubclass(getattr(mn, name), (mn.Module, mn.Parameter))}
    assert names == layers | HOMES | {"save", "load", "no_grad", "set_num_threads", "get_num_threads", "num_threads"}
    assert {"Linear", "LSTM", "LSTMClassifier", "CNN", "MLP", "Parameter", "Module"} <= layers
    assert not {"importlib", "layers", "activations", "rng", "functional", "init"} & names


@pytest.mark.slow
def test_each_home_imports_on_first_use_in_a_fresh_process():
    code = ("import manualnet as mn, sys; print(mn.autograd.Tensor.__name__, mn.testing.compare_modules.__name__,"
            " mn.datasets.load_digits.__name__, mn.interop.to_torch.__name__, 'manualnet.datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.split() == ["Tensor", "compare_modules", "load_digits", "to_torch", "True"]
    lazy = subprocess.run([sys.executable, "-c", "import manualnet, sys; print(sorted(m for m in sys.modules if "
                           "m.startswith(('manualnet.datasets', 'manualnet.testing', 'manualnet.interop'))))"],
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert lazy.strip() == "[]"


@pytest.mark.slow
def test_importing_manualnet_loads_no_heavy_library():
    """SciPy (GELU's erf), hypothesis, torch, matplotlib and scikit-learn load when a function needs them."""
    heavy = ("scipy", "hypothesis", "torch", "matplotlib", "sklearn", "threadpoolctl")
    loaded = subprocess.run([sys.executable, "-c", f"import manualnet, sys; print([m for m in {heavy!r} "
                             "if m in sys.modules])"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("old", sorted(_aliases.ALIASES))
def test_every_old_module_name_still_imports_as_its_new_home(old):
    homes = _aliases.ALIASES[old]
    module = __import__(old, fromlist=["_"])
    if len(homes) == 1:
        assert module is sys.modules[homes[0]]
    else:
        for home in homes:
            new = sys.modules[home]
            public = [name for name in vars(new) if not name.startswith("_")]
            assert any(getattr(module, name) is getattr(new, name) for name in public)


DOCUMENTED_SPELLINGS = [
    ("mn.data.DataLoader", lambda: mn.data.DataLoader, lambda: mn.utils.data.DataLoader),
    ("mn.models.LSTMClassifier", lambda: mn.models.LSTMClassifier, lambda: mn.LSTMClassifier),
    ("mn.utils.clip_grad_norm_", lambda: mn.utils.clip_grad_norm_, lambda: mn.nn.utils.clip_grad_norm_),
    ("mn.init.kaiming_normal_", lambda: mn.init.kaiming_normal_, lambda: mn.nn.init.kaiming_normal_),
    ("mn.functional.softmax (the stable numerics)", lambda: mn.functional.softmax_parts,
     lambda: __import__("manualnet._numerics", fromlist=["_"]).softmax_parts),
    ("mn.functional.conv2d", lambda: mn.functional.conv2d, lambda: mn.nn.functional.conv2d),
    ("mn.gradcheck.check_module", lambda: mn.gradcheck.check_module, lambda: mn.testing.gradcheck.check_module),
    ("mn.compare.to_torch", lambda: mn.compare.to_torch, lambda: mn.interop.to_torch),
    ("mn.conv.conv2d_naive_forward", lambda: mn.conv.conv2d_naive_forward,
     lambda: mn.nn.modules.conv.conv2d_naive_forward),
    ("mn.optim.lr_scheduler.StepLR", lambda: mn.optim.lr_scheduler.StepLR,
     lambda: __import__("manualnet.optim.lr_scheduler", fromlist=["_"]).StepLR),
    ("mn.datasets.load_mnist", lambda: mn.datasets.load_mnist, lambda: mn.datasets.mnist.load_mnist),
    ("mn.rng.as_generator", lambda: mn.rng.as_generator, lambda: __import__("manualnet._rng", fromlist=["_"]).as_generator),
]


@pytest.mark.parametrize("spelling, old, new", DOCUMENTED_SPELLINGS, ids=[s for s, _, _ in DOCUMENTED_SPELLINGS])
def test_every_documented_spelling_keeps_working(spelling, old, new):
    assert old() is new()


def test_the_readme_map_names_every_folder_of_the_package_and_only_real_ones():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## Where things live")[1].split("```text")[1].split("```")[0]
    folders = {path.parent.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("__init__.py")} - {"."}
    named = set(re.findall(r"^\s+([a-z_/]+)/\s", tree, flags=re.M))
    top_level = {folder for folder in folders if "/" not in folder}
    assert top_level - named == set(), f"folders the README's map leaves out: {sorted(top_level - named)}"
    for entry in re.findall(r"^\s+([a-z_/]+\.py)\s", tree, flags=re.M):
        assert any(path.name == entry for path in PACKAGE.rglob(entry)), f"the map names {entry}, which is not there"
