"""The collection's Markdown guides as the RST extra docs of its docsite (docs/docsite/rst/), with pandoc.

antsibull-docs takes extra docs only as RST files under docs/docsite/rst/, listed in docs/docsite/extra-docs.yml.
The Markdown under docs/ stays the one source (GitHub and Galaxy show it, README.md links it); this script writes
docs/docsite/rst/<ref>.rst from docs/<ref>.md for every toctree ref of extra-docs.yml, and with --check only says
which are missing, stale or left over. Each page's "Edit on GitHub" opens its Markdown. Links are rewritten:

- to a guide that is in the docsite, with or without #anchor: a Sphinx :ref: to that guide or section;
- to any other file of the repository (code, README.md, images): its page on GitHub (links.yml's edit_on_github);
- anything else relative (a file or #anchor that does not exist): an error, so broken links fail the docs stage.

    python tests/docs/md2rst.py ROOT [--check]
"""

import argparse
import json
import os
import posixpath
import subprocess
import sys

import pypandoc
import yaml

LABEL_PREFIX = 'ansible_collections.%s.%s.docsite.'
SCHEMES = ('http://', 'https://', 'mailto:')
COLUMNS = '120'


class BrokenLink(Exception):
    """A relative link or image of a guide that points at nothing."""


def pandoc(source, source_format, target_format):
    """pandoc (the binary pypandoc-binary ships) from one format to another."""
    command = [pypandoc.get_pandoc_path(), '--from', source_format, '--to', target_format, '--wrap', 'preserve',
               '--columns', COLUMNS]
    return subprocess.run(command, input=source, capture_output=True, text=True, check=True).stdout


def read_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def toctree_refs(root):
    """The refs of docs/docsite/extra-docs.yml ('guides/alerts'), in order."""
    index = read_yaml(os.path.join(root, 'docs', 'docsite', 'extra-docs.yml'))
    refs = []
    for section in index.get('sections') or ():
        for entry in section.get('toctree') or ():
            refs.append(entry['ref'] if isinstance(entry, dict) else entry)
    return refs


def stringify(inlines):
    """The plain text of pandoc inlines (for a :ref:'s title)."""
    parts = []
    for inline in inlines:
        kind, content = inline['t'], inline.get('c')
        if kind in ('Str', 'Code', 'Math', 'RawInline'):
            parts.append(content if kind == 'Str' else content[-1])
        elif kind in ('Space', 'SoftBreak', 'LineBreak'):
            parts.append(' ')
        elif kind in ('Link', 'Image', 'Span', 'Quoted', 'Cite'):  # [attributes or kind, inlines, ...]
            parts.append(stringify(content[1]))
        elif isinstance(content, list):
            parts.append(stringify(content))
    return ''.join(parts)


def walk(node, visit):
    """Call visit(element) on every pandoc element (a dict with 't') below node, depth first."""
    if isinstance(node, dict):
        if 't' in node:
            visit(node)
        for value in node.values():
            walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            walk(value, visit)


class Site:
    """The guides of the docsite: their pandoc documents and the labels of their titles and sections."""

    def __init__(self, root):
        self.root = root
        galaxy = read_yaml(os.path.join(root, 'galaxy.yml'))
        self.prefix = LABEL_PREFIX % (galaxy['namespace'], galaxy['name'])
        github = read_yaml(os.path.join(root, 'docs', 'docsite', 'links.yml'))['edit_on_github']
        self.github = 'https://github.com/%s' % github['repository']
        self.branch = github['branch']
        self.path_prefix = (github.get('path_prefix') or '').strip('/')
        self.documents = {}  # repository path of the Markdown -> (ref, pandoc document)
        self.labels = {}  # (repository path, GitHub anchor or '') -> label
        self.broken = []  # what is wrong with the guides' links
        for ref in toctree_refs(root):
            path = posixpath.join('docs', ref + '.md')
            with open(os.path.join(root, path), encoding='utf-8') as handle:
                document = json.loads(pandoc(handle.read(), 'gfm', 'json'))
            self.documents[path] = (ref, document)
            self.label_headers(path, ref, document)

    def label_headers(self, path, ref, document):
        """Give the title (the first header) and every section a label the docsite's guides can :ref:."""
        base = self.prefix + ref.replace('/', '.')
        headers = [block for block in document['blocks'] if block['t'] == 'Header']
        for index, header in enumerate(headers):
            anchor = header['c'][1][0]
            label = base if index == 0 else base + '.' + anchor
            self.labels[(path, anchor)] = label
            if index == 0:
                self.labels[(path, '')] = label
            header['c'][1][0] = label

    def rst(self, path):
        """The RST of one guide, links rewritten."""
        document = self.documents[path][1]
        walk(document, lambda element: self.rewrite(path, element))
        head = (':github_url: %s\n\n.. Written by `make docs` (tests/docs/md2rst.py) from %s: edit that file, not this '
                'one.\n\n' % (self.github_url(path, 'edit'), path))
        return head + pandoc(json.dumps(document), 'json', 'rst')

    def rewrite(self, path, element):
        """Rewrite one element of the guide at path; a broken link is noted in self.broken."""
        try:
            self.rewrite_target(path, element)
        except BrokenLink as ex:
            self.broken.append(str(ex))

    def rewrite_target(self, path, element):
        if element['t'] == 'Link':
            target = element['c'][2][0]
            replacement = self.link(path, target, stringify(element['c'][1]))
            if replacement is not None:
                element['t'], element['c'] = 'RawInline', ['rst', replacement]
        elif element['t'] == 'Image':
            target = element['c'][2][0]
            if not target.startswith(SCHEMES):
                element['c'][2][0] = self.github_url(self.resolve(path, target)[0], 'raw')

    def resolve(self, path, target):
        """(repository path, anchor) of a relative link in the guide at path; BrokenLink when there is no such file."""
        file_part, anchor = (target.split('#', 1) + [''])[:2]
        linked = posixpath.normpath(posixpath.join(posixpath.dirname(path), file_part)) if file_part else path
        if linked.startswith('../') or not os.path.exists(os.path.join(self.root, linked)):
            raise BrokenLink('%s links to %s, which is not a file of the repository' % (path, target))
        return linked, anchor

    def link(self, path, target, title):
        """A :ref: for a link to a guide of the docsite, None to keep the link (absolute), else a GitHub URL."""
        if target.startswith(SCHEMES):
            return None
        linked, anchor = self.resolve(path, target)
        if linked in self.documents:
            label = self.labels.get((linked, anchor))
            if not label:
                raise BrokenLink('%s links to %s: %s has no section with the anchor #%s'
                                 % (path, target, linked, anchor))
            return ':ref:`%s <%s>`' % (escape_role_text(title), label)
        url = self.github_url(linked, 'blob' if os.path.isfile(os.path.join(self.root, linked)) else 'tree')
        return '`%s <%s>`__' % (escape_role_text(title), url + ('#' + anchor if anchor else ''))

    def github_url(self, linked, kind):
        """The address of a file of the repository on GitHub: kind blob (a page), tree (a folder), raw or edit."""
        return '%s/%s/%s/%s' % (self.github, kind, self.branch, posixpath.join(self.path_prefix, linked))


def escape_role_text(text):
    """Text inside an RST role or hyperlink reference: backslash, backquote and angle brackets escaped."""
    for char in '\\`<>':
        text = text.replace(char, '\\' + char)
    return text


def wanted_files(root):
    """{path of an RST file under docs/docsite/rst: its content} for every guide of extra-docs.yml."""
    site = Site(root)
    wanted = dict((posixpath.join('docs', 'docsite', 'rst', ref + '.rst'), site.rst(path))
                  for path, ref in sorted((path, entry[0]) for path, entry in site.documents.items()))
    if site.broken:
        raise BrokenLink('\nERROR: '.join(site.broken))
    return wanted


def present_files(root):
    """The RST files under docs/docsite/rst now (repository paths)."""
    found = []
    for directory, subdirectories, files in os.walk(os.path.join(root, 'docs', 'docsite', 'rst')):
        found.extend(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, '/')
                     for name in files if name.endswith('.rst'))
    return sorted(found)


def differences(root, wanted):
    """Lines naming every RST file that is missing, stale or not made from a guide."""
    lines = []
    for path, content in sorted(wanted.items()):
        try:
            with open(os.path.join(root, path), encoding='utf-8') as handle:
                if handle.read() != content:
                    lines.append('%s: stale' % path)
        except OSError:
            lines.append('%s: missing' % path)
    lines.extend('%s: not made from a guide' % path for path in present_files(root) if path not in wanted)
    return lines


def write(root, wanted):
    """Write the wanted RST files and remove the others under docs/docsite/rst; the lines say what changed."""
    changes = differences(root, wanted)
    for path in present_files(root):
        if path not in wanted:
            os.remove(os.path.join(root, path))
    for path, content in wanted.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), 'w', encoding='utf-8') as handle:
            handle.write(content)
    return changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('root', help='the repository')
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 when a file would change')
    args = parser.parse_args()
    try:
        wanted = wanted_files(args.root)
    except BrokenLink as ex:
        print('ERROR: %s' % ex)
        return 1
    if args.check:
        lines = differences(args.root, wanted)
        for line in lines:
            print('ERROR: %s (run `make docs` and commit docs/docsite/rst/)' % line)
        return 1 if lines else 0
    for line in write(args.root, wanted):
        print(line.replace('missing', 'written').replace('stale', 'updated').replace('not made from', 'removed: not'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
