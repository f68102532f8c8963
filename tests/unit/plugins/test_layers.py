# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's Python files import only from their own layer and the layers below it.

LAYERS is the one statement of the order; docs/architecture.md ("Layers: who may import whom") shows the same
layers, in the same order, with the same files, and a test below fails when the two differ. A file imports from
its own layer or a lower one; an import from a higher layer fails, naming the file, the import and both layers;
imports inside one layer must not go round in a circle. Every file of a layered folder must be in a layer, so a
new file has to be placed. The imports are read with `ast` (the code is never imported); the repository is found
from this file's path (unit tests also run from a copy under ansible_collections/secops/m365_defender/).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re
from collections import namedtuple

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
PACKAGE = "ansible_collections.secops.m365_defender"

# A member is a file (without ".py") or a folder (ending in "/": every .py file in it), relative to the repository.
Layer = namedtuple("Layer", "name members")

# Bottom first. docs/architecture.md says what each layer is for.
LAYERS = (
    Layer("foundation", ("plugins/module_utils/_errors", "plugins/module_utils/_files",
                         "plugins/module_utils/_version")),
    Layer("facts", ("plugins/module_utils/_clouds", "plugins/module_utils/_permissions",
                    "plugins/module_utils/_properties")),
    Layer("transport", ("plugins/module_utils/_http", "plugins/module_utils/_token_cache")),
    Layer("sign-in and API client", ("plugins/module_utils/_auth", "plugins/module_utils/_api")),
    Layer("resources", ("plugins/module_utils/_incidents", "plugins/module_utils/_update",
                        "plugins/module_utils/_alerts", "plugins/module_utils/_evidence",
                        "plugins/module_utils/_incident_view", "plugins/module_utils/_registration",
                        "plugins/module_utils/_machines", "plugins/module_utils/_machine_actions",
                        "plugins/module_utils/_machine_tags", "plugins/module_utils/_indicators")),
    Layer("rules", ("plugins/module_utils/_triage",)),
    Layer("task", ("plugins/module_utils/_module",)),
    Layer("modules", ("plugins/modules/",)),
    Layer("controller helpers", ("plugins/plugin_utils/",)),
    Layer("controller plugins", ("plugins/action/", "plugins/inventory/", "plugins/filter/",
                                 "extensions/eda/plugins/event_source/")),
)

DOC = os.path.join("docs", "architecture.md")
DOC_SECTION = "## Layers: who may import whom"
# A layer in the doc: "1. **name** (`member`, `member`): what it is for", possibly wrapped over several lines.
DOC_ITEM = re.compile(r"^\d+\. \*\*(?P<name>[^*]+)\*\* \((?P<members>[^)]*)\):")


def layered_folders(layers):
    return sorted(set(member.rstrip("/") if member.endswith("/") else os.path.dirname(member)
                      for layer in layers for member in layer.members))


def python_files(root, layers):
    """Every .py file of the folders the layers name, relative to root, without ".py"."""
    found = []
    for folder in layered_folders(layers):
        path = os.path.join(root, folder)
        for name in sorted(os.listdir(path)) if os.path.isdir(path) else ():
            if name.endswith(".py") and name != "__init__.py":
                found.append("%s/%s" % (folder, name[:-len(".py")]))
    return found


def layer_of(module, layers):
    """The index of the layer that holds this file or its folder (None: no layer names it)."""
    for index, layer in enumerate(layers):
        for member in layer.members:
            if module == member or (member.endswith("/") and module.startswith(member) and "/" not in
                                    module[len(member):]):
                return index
    return None


def imported_modules(root, module, source):
    """(line, import as written, imported file or folder relative to root) for each import of the collection."""
    found = []
    package_parts = module.split("/")[:-1]
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.ImportFrom):
            written = "from %s%s import %s" % ("." * node.level, node.module or "",
                                               ", ".join(alias.name for alias in node.names))
            if node.level:
                base = package_parts[:len(package_parts) - node.level + 1] + (node.module or "").split(".")
            elif (node.module or "").startswith(PACKAGE + "."):
                base = node.module[len(PACKAGE) + 1:].split(".")
            else:
                continue
            base = "/".join(part for part in base if part)
            for alias in node.names:
                target = base + "/" + alias.name
                found.append((node.lineno, written, target if is_python_file(root, target) else base))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.append((node.lineno, "import %s" % alias.name,
                                  alias.name[len(PACKAGE) + 1:].replace(".", "/")))
    return found


def is_python_file(root, target):
    return os.path.isfile(os.path.join(root, target + ".py"))


def target_layer(target, layers):
    """The layer of an imported file, or of an imported package (a layered folder: "plugins/plugin_utils")."""
    index = layer_of(target, layers)
    return layer_of(target + "/", layers) if index is None else index


def read(root, module):
    with open(os.path.join(root, module + ".py"), "rb") as handle:
        return handle.read().decode("utf-8")


def import_graph(root, layers, sources=None):
    """{file: [(line, import as written, target)]} for every layered file; `sources` replaces files' text."""
    sources = sources or {}
    modules = sorted(set(python_files(root, layers)) | set(sources))
    return dict((module, imported_modules(root, module, sources.get(module) or read(root, module)))
                for module in modules)


def unplaced_files(graph, layers):
    return ["%s.py is in no layer: add it to LAYERS in %s and to %s" % (module, os.path.basename(__file__), DOC)
            for module in sorted(graph) if layer_of(module, layers) is None]


def upward_imports(graph, layers):
    problems = []
    for module in sorted(graph):
        own = layer_of(module, layers)
        for line, written, target in graph[module]:
            other = target_layer(target, layers)
            if own is not None and other is not None and other > own:
                problems.append("%s.py:%d: %s imports from layer %d (%s), above its own layer %d (%s)" % (
                    module, line, written, other + 1, layers[other].name, own + 1, layers[own].name))
    return problems


def circles(graph, layers):
    """The import circles among files of one layer (an upward import is reported by upward_imports)."""
    edges = dict((module, sorted(set(target for _line, _written, target in imports
                                     if target in graph and target != module
                                     and layer_of(target, layers) == layer_of(module, layers))))
                 for module, imports in graph.items())
    found = []
    for start in sorted(edges):
        path = circle_from(start, edges, [start])
        if path:
            found.append("import circle in layer %s: %s" % (
                layers[layer_of(start, layers)].name, " -> ".join(name + ".py" for name in path + [start])))
    return found


def circle_from(start, edges, path):
    """A circle back to start through files named after it (so each circle is found once, from its first file)."""
    for following in edges.get(path[-1], ()):
        if following == start:
            return path
        if following > start and following not in path:
            circle = circle_from(start, edges, path + [following])
            if circle:
                return circle
    return None


def documented_layers(text):
    """[(name, [member as written])] of the doc's layer list, in its order."""
    lines = text.split(DOC_SECTION, 1)[1].split("\n## ", 1)[0].splitlines() if DOC_SECTION in text else []
    items, current = [], None
    for line in lines:
        if re.match(r"^\d+\. ", line):
            current = [line]
            items.append(current)
        elif current is not None and line.startswith("   ") and line.strip():
            current.append(line.strip())
        else:
            current = None
    layers = []
    for item in items:
        match = DOC_ITEM.match(" ".join(item))
        if match:
            layers.append((match.group("name"), re.findall(r"`([^`]+)`", match.group("members"))))
    return layers


def doc_spelling(member):
    """How the doc names a member: a module_utils file by its name, a folder by its path."""
    return member.rsplit("/", 1)[1] if not member.endswith("/") else member


def doc_differences(text, layers):
    documented = documented_layers(text)
    expected = [(layer.name, [doc_spelling(member) for member in layer.members]) for layer in layers]
    if documented == expected:
        return []
    return ["%s's section %r lists %r, %s holds %r" % (DOC, DOC_SECTION, documented, os.path.basename(__file__),
                                                       expected)]


def test_the_repository_is_found():
    assert os.path.isfile(os.path.join(ROOT, DOC))
    assert "plugins/module_utils/_module" in python_files(ROOT, LAYERS)


def test_every_file_is_in_a_layer():
    assert unplaced_files(import_graph(ROOT, LAYERS), LAYERS) == []


def test_no_file_imports_from_a_higher_layer():
    graph = import_graph(ROOT, LAYERS)
    assert sum(len(imports) for imports in graph.values()) > 100, "the imports were not found"
    assert upward_imports(graph, LAYERS) == []


def test_no_import_circle_inside_a_layer():
    assert circles(import_graph(ROOT, LAYERS), LAYERS) == []


def test_the_doc_lists_the_same_layers_in_the_same_order():
    with open(os.path.join(ROOT, DOC), "rb") as handle:
        assert doc_differences(handle.read().decode("utf-8"), LAYERS) == []


# The checks themselves can fail: a fake file's text replaces the real one's.

def test_an_upward_import_is_named_with_both_layers():
    source = ("from ansible_collections.secops.m365_defender.plugins.module_utils._module import Session\n"
              "from ansible_collections.secops.m365_defender.plugins.module_utils._version import USER_AGENT\n")
    graph = import_graph(ROOT, LAYERS, {"plugins/module_utils/_errors": source})
    assert upward_imports(graph, LAYERS) == [
        "plugins/module_utils/_errors.py:1: from ansible_collections.secops.m365_defender.plugins.module_utils._module"
        " import Session imports from layer 7 (task), above its own layer 1 (foundation)"]


@pytest.mark.parametrize("module, source, layer", [
    ("plugins/module_utils/_api", "from . import _incidents\n", "resources"),
    ("plugins/module_utils/_http", "from ._auth import Token\n", "sign-in and API client"),
    ("plugins/module_utils/_module", "import ansible_collections.secops.m365_defender.plugins.plugin_utils\n",
     "controller helpers"),
    ("plugins/modules/incident_info",
     "from ansible_collections.secops.m365_defender.plugins.plugin_utils import _options\n", "controller helpers"),
    ("plugins/plugin_utils/_tenants", "def late():\n"
     "    from ansible_collections.secops.m365_defender.plugins.filter.evidence import FilterModule\n",
     "controller plugins"),
])
def test_every_form_of_import_is_seen(module, source, layer):
    graph = import_graph(ROOT, LAYERS, {module: source})
    problems = upward_imports(graph, LAYERS)
    assert len(problems) == 1 and problems[0].startswith(module + ".py:")
    assert "(%s), above" % layer in problems[0]


def test_a_new_file_outside_every_layer_is_named():
    graph = import_graph(ROOT, LAYERS, {"plugins/module_utils/_new": "import os\n"})
    assert unplaced_files(graph, LAYERS) == [
        "plugins/module_utils/_new.py is in no layer: add it to LAYERS in test_layers.py and to docs/architecture.md"]


def test_a_circle_inside_a_layer_is_named():
    source = "from ansible_collections.secops.m365_defender.plugins.module_utils._indicators import Indicator\n"
    graph = import_graph(ROOT, LAYERS, {"plugins/module_utils/_incidents": source})
    assert circles(graph, LAYERS) == [
        "import circle in layer resources: plugins/module_utils/_incidents.py -> plugins/module_utils/_indicators.py"
        " -> plugins/module_utils/_incidents.py"]


def test_a_doc_that_drifted_is_named():
    with open(os.path.join(ROOT, DOC), "rb") as handle:
        text = handle.read().decode("utf-8")
    swapped = text.replace("**facts**", "**FACTS**").replace("**transport**", "**facts**").replace(
        "**FACTS**", "**transport**")
    assert swapped != text
    assert len(doc_differences(swapped, LAYERS)) == 1
    moved = text.replace("(`_auth`, `_api`)", "(`_auth`)")
    assert moved != text
    assert len(doc_differences(moved, LAYERS)) == 1
    assert len(doc_differences(text.replace(DOC_SECTION, "## Layers"), LAYERS)) == 1
