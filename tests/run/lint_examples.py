"""Turn the EXAMPLES of every module and filter into playbooks, so that ansible-lint checks them as it checks roles.

Each example block becomes the task list of one play in OUT_DIR/<kind>_<name>.yml, its text unchanged (only
indented), so that ansible-lint's YAML rules see what the author wrote.
"""

import ast
import glob
import os
import textwrap

import yaml

PLAY = '---\n- name: Examples of secops.m365_defender.%s\n  hosts: localhost\n  gather_facts: false\n  tasks:\n%s\n'


def module_examples(path):
    """The EXAMPLES string of a module, read without importing it."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, 'id', None) == 'EXAMPLES' for target in node.targets):
            return node.value.value
    return None


def sidecar_examples(path):
    """The EXAMPLES of a plugin documented in a YAML file beside it (filters)."""
    with open(path, encoding='utf-8') as handle:
        return (yaml.safe_load(handle) or {}).get('EXAMPLES')


def write_example_playbooks(root, out_dir):
    """Write one playbook per documented plugin; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, '*.yml')):
        os.remove(old)
    sources = [('module', path, module_examples) for path in glob.glob(os.path.join(root, 'plugins/modules/*.py'))]
    sources += [('filter', path, sidecar_examples) for path in glob.glob(os.path.join(root, 'plugins/filter/*.yml'))]
    written = []
    for kind, path, read in sorted(sources):
        text = read(path)
        if not text or not text.strip():
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(out_dir, '%s_%s.yml' % (kind, name))
        with open(target, 'w', encoding='utf-8') as handle:
            handle.write(PLAY % (name, textwrap.indent(textwrap.dedent(text).strip('\n'), '    ')))
        written.append(target)
    return written


if __name__ == '__main__':
    import sys
    for written_path in write_example_playbooks(sys.argv[1], sys.argv[2]):
        print(written_path)
