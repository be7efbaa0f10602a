"""Docs that cannot rot: links, anchors, the paths in commands, the metafiles' pages, and the quoted counts.

Rules, for every Markdown file of the repository (hidden folders and generated ones such as work_dirs/ excluded):

- every relative link or image (``[text](target)``, ``![alt](target)``, ``<img src=...>``, ``<a href=...>``) names a
  file or folder that exists inside the repository, and its ``#anchor`` is a heading (or an explicit ``id``/``name``)
  of the target Markdown file, by GitHub's rules: the heading's text lowercased, everything but letters, digits,
  spaces, ``-`` and ``_`` removed, spaces turned into ``-``, ``-1``, ``-2``, ... appended to repeated headings;
- every path starting with ``tools/`` or ``configs/`` in a fenced code block, and every inline code span that is such
  a path, exists (``{a,b}`` expands as in bash, ``*`` must match something); placeholders (``<family>``, ``...``)
  are not paths;
- every metafile's ``README:`` names a page (and anchor) that exists;
- every count that the README and the family pages quote is one of tests/counts.yaml (see ``COUNT_PAGES``): an
  integer written with thousands separators (``23,789,568``; ``+34,944`` is an increase over an entry's
  ``reference``), and a decimal in a table column headed ``GMACs ...`` or ``MMACs ...`` or followed by ``GMACs`` in
  the text, at the precision printed. Code spans and code blocks are not counts.
"""

import glob
import itertools
import os
import os.path as osp
import re
import unicodedata
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest
import yaml
from conftest import COUNTS, REPO_ROOT

SKIPPED_DIRS = {'work_dirs', 'data', 'checkpoints', 'build', 'dist', 'node_modules', '__pycache__'}
COUNT_PAGES = [
    'README.md',
    'docs/rla.md',
    'docs/rla_mobilenetv2.md',
    'docs/rnn_regnet.md',
    'docs/ror.md',
    'docs/classification.md',
    'configs/rla/README.md',
    'configs/rla_mobilenetv2/README.md',
    'configs/rnn_regnet/README.md',
    'configs/ror/README.md',
    'configs/classification/README.md',
]

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
INLINE_CODE = re.compile(r'(`+)(.+?)\1')
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)')
REFERENCE_DEFINITION = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
HTML_TARGET = re.compile(r'<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*"([^"]*)"', re.IGNORECASE)
HTML_ANCHOR = re.compile(r'<[a-z]+\b[^>]*?\b(?:id|name)\s*=\s*"([^"]*)"', re.IGNORECASE)
REPO_PATH = re.compile(r'(?<![\w./:<-])((?:tools|configs)/[\w.{},*/<>-]*)')


def markdown_files() -> List[str]:
    """Every ``*.md`` below the repository root, relative to it, outside hidden and generated folders."""
    found = []
    for root, dirs, files in os.walk(REPO_ROOT):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith('.') and d not in SKIPPED_DIRS and not d.endswith('.egg-info')
        )
        found += [osp.relpath(osp.join(root, f), REPO_ROOT) for f in sorted(files) if f.endswith('.md')]
    return found


MARKDOWN = markdown_files()


def read(path: str) -> str:
    with open(osp.join(REPO_ROOT, path), encoding='utf-8') as file:
        return file.read()


def split_code(text: str) -> Tuple[List[Tuple[int, str]], List[Tuple[int, str]]]:
    """``(prose lines, lines of fenced code blocks)``, each as ``(line number, line)``."""
    prose, code = [], []
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif (
            fence is not None
            and match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not line.strip()[len(match.group(1)) :].strip()
        ):
            fence = None
        elif fence is not None:
            code.append((number, line))
        else:
            prose.append((number, line))
    return prose, code


def without_code_spans(line: str) -> str:
    return INLINE_CODE.sub(' ', line)


def heading_text(raw: str) -> str:
    """The text GitHub renders for a heading's source: links as their text, no code marks, images or tags."""
    text = re.sub(r'!\[([^\]]*)\]\([^)]*\)', r'\1', raw)
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
    text = re.sub(r'<[^>]+>', '', text)
    return text.replace('`', '')


def slug(text: str) -> str:
    """GitHub's anchor of a heading: lowercase; keep letters, marks, digits, '_', '-' and spaces; spaces to '-'."""
    kept = ''.join(
        c for c in text.lower() if unicodedata.category(c)[0] in 'LMN' or unicodedata.category(c) == 'Pc' or c in ' -'
    )
    return kept.replace(' ', '-')


def anchors(path: str) -> Set[str]:
    prose, _ = split_code(read(path))
    seen: Dict[str, int] = {}
    found = set()
    for _, line in prose:
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(heading_text(match.group(2)))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f'{base}-{count}')
    return found


def link_targets(path: str) -> Iterator[Tuple[int, str]]:
    prose, _ = split_code(read(path))
    for number, line in prose:
        line = without_code_spans(line)
        for pattern in (LINK, HTML_TARGET):
            for target in pattern.findall(line):
                yield number, target
        match = REFERENCE_DEFINITION.match(line)
        if match:
            yield number, match.group(1)


def is_external(target: str) -> bool:
    return bool(re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', target)) or target.startswith('//')


def broken_link(page: str, target: str) -> str:
    """Why ``target``, linked from ``page``, does not resolve ('' when it does)."""
    path, _, anchor = target.partition('#')
    if path:
        resolved = osp.normpath(osp.join(REPO_ROOT, osp.dirname(page), path))
        if not (resolved + os.sep).startswith(REPO_ROOT + os.sep) and resolved != REPO_ROOT:
            return f'{target}: outside the repository'
        if not osp.exists(resolved):
            return f'{target}: no such file or folder'
        target_page = osp.relpath(resolved, REPO_ROOT)
    else:
        target_page = page
    if anchor:
        if not target_page.endswith('.md') or osp.isdir(osp.join(REPO_ROOT, target_page)):
            return f'{target}: an anchor into something that is not a Markdown file'
        if anchor not in anchors(target_page):
            return f'{target}: no heading with anchor #{anchor} in {target_page}'
    return ''


def test_the_markdown_files_are_found():
    assert 'README.md' in MARKDOWN and 'docs/weights.md' in MARKDOWN
    assert not [p for p in MARKDOWN if p.startswith(('.venv', 'work_dirs'))]


@pytest.mark.parametrize('page', MARKDOWN)
def test_relative_links_and_anchors_resolve(page):
    problems = [
        f'{page}:{number}: {why}'
        for number, target in link_targets(page)
        if target and not is_external(target)
        for why in [broken_link(page, target)]
        if why
    ]
    assert not problems, '\n'.join(problems)


def expand_braces(path: str) -> List[str]:
    match = re.search(r'\{([^{}]*,[^{}]*)\}', path)
    if not match:
        return [path]
    return [
        expanded
        for option in match.group(1).split(',')
        for expanded in expand_braces(path[: match.start()] + option + path[match.end() :])
    ]


def repository_paths(page: str) -> Iterator[Tuple[int, str]]:
    """``tools/...`` and ``configs/...`` paths of a page's code blocks and of its code spans that are paths."""
    prose, code = split_code(read(page))
    for number, line in code:
        for path in REPO_PATH.findall(line):
            yield number, path
    for number, line in prose:
        for _, span in INLINE_CODE.findall(line):
            span = span.strip()
            if re.fullmatch(r'(?:tools|configs)/[\w.{},*/-]*', span):
                yield number, span


def missing_path(path: str) -> str:
    path = path.rstrip('.,:;')
    if '<' in path or '>' in path or '...' in path:
        return ''  # a placeholder, e.g. configs/<family>/
    for expanded in expand_braces(path):
        if '*' in expanded:
            if not glob.glob(osp.join(REPO_ROOT, expanded)):
                return f'{path}: {expanded} matches nothing'
        elif not osp.exists(osp.join(REPO_ROOT, expanded)):
            return f'{path}: {expanded} does not exist'
    return ''


@pytest.mark.parametrize('page', MARKDOWN)
def test_paths_in_commands_exist(page):
    problems = [
        f'{page}:{number}: {why}' for number, path in repository_paths(page) for why in [missing_path(path)] if why
    ]
    assert not problems, '\n'.join(problems)


def test_the_checks_catch_what_they_should(tmp_path):
    """The rules themselves: GitHub's slugs, brace expansion, placeholders, broken targets."""
    assert slug(heading_text('RoR: Refine or Represent')) == 'ror-refine-or-represent'
    assert (
        slug(heading_text('The ablations of Table 6: arguments of `RLAResNet`'))
        == 'the-ablations-of-table-6-arguments-of-rlaresnet'
    )
    assert slug(heading_text('mmdet_rla — memory-along-depth backbones')) == 'mmdet_rla--memory-along-depth-backbones'
    assert (
        slug(heading_text('Converting the [authors](x.md) checkpoints (`tools/x.py`)'))
        == 'converting-the-authors-checkpoints-toolsxpy'
    )
    assert expand_braces('configs/rla/{a,b}_{c,d}.py') == [
        'configs/rla/a_c.py',
        'configs/rla/a_d.py',
        'configs/rla/b_c.py',
        'configs/rla/b_d.py',
    ]
    assert missing_path('configs/<family>/README.md') == ''
    assert missing_path('tools/train.py,') == ''
    assert missing_path('tools/no_such_tool.py') and missing_path('configs/rla/*_no_such_thing.py')
    assert missing_path('configs/rla/{faster-rcnn,no-such}_rla-r50_fpn_1x_coco.py')
    assert broken_link('README.md', 'docs/weights.md') == ''
    assert broken_link('docs/weights.md', '../README.md') == ''
    assert 'no heading' in broken_link('README.md', 'docs/weights.md#no-such-heading')
    assert 'no such file' in broken_link('README.md', 'docs/no_such_page.md')
    assert 'outside' in broken_link('README.md', '../README.md')
    assert [path for _, path in repository_paths('README.md')]  # the README names tools and configs


def test_metafiles_name_pages_that_exist():
    metafiles = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '**', 'metafile.yml'), recursive=True))
    assert len(metafiles) >= 8
    for metafile in metafiles:
        with open(metafile, encoding='utf-8') as file:
            collections = yaml.safe_load(file)['Collections']
        for collection in collections:
            target = collection['README']
            # mmdet's convention: the README path is relative to the repository root.
            assert broken_link('metafile.yml', target) == '', (metafile, target)


# ------------------------------------------------------------------------------------------------------ counts
THOUSANDS = re.compile(r'(?<![\w.,])([+-]?)(\d{1,3}(?:,\d{3})+)(?![\w]|[.,]\d)')
DECIMAL = re.compile(r'(?<![\w.])([+-]?)(\d+\.\d+)(?![\w.])')
PARAM_FIELDS = ('params', 'params_with_fc')
MACS_FIELDS = ('macs', 'macs_literal', 'macs_with_fc', 'macs_with_fc_literal')


class EntryCounts:
    """What the docs may quote of one entry of tests/counts.yaml: its counts, and its increases over its references
    (an increase in multiply-adds compares the same field of both, or the reference's plain count)."""

    def __init__(self, name: str) -> None:
        entry = COUNTS[name]
        self.name = name
        self.absolute = {entry[f] for f in PARAM_FIELDS + MACS_FIELDS if f in entry}
        self.macs = [entry[f] for f in MACS_FIELDS if f in entry]
        self.increases, self.macs_increases = set(), []
        for reference in (COUNTS[r] for r in entry.get('reference', [])):
            for field in PARAM_FIELDS + MACS_FIELDS:
                base = reference.get(field, reference.get(field.replace('_literal', '')))
                if field in entry and base is not None:
                    self.increases.add(entry[field] - base)
                    if field in MACS_FIELDS:
                        self.macs_increases.append(entry[field] - base)

    def quotes(self, kind: str, text: str, scale: float) -> bool:
        increase = text.startswith('+')
        if kind == 'int':
            number = int(text.lstrip('+-').replace(',', ''))
            return number in (self.increases if increase else self.absolute | self.increases)
        decimals = len(text.split('.')[1])
        number = float(text.lstrip('+-'))
        return any(
            round(value / scale, decimals) == number for value in (self.macs_increases if increase else self.macs)
        )


ENTRIES = [EntryCounts(name) for name in COUNTS]


def table_rows(lines: List[Tuple[int, str]]) -> Iterator[Tuple[int, List[Tuple[str, str]]]]:
    """``(line number, [(column header, cell), ...])`` of every Markdown table row below its header."""
    header: List[str] = []
    for number, line in lines:
        if not line.lstrip().startswith('|'):
            header = []
            continue
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if not header:
            header = cells
        elif not all(re.fullmatch(r':?-+:?', cell) for cell in cells):
            yield number, list(itertools.zip_longest(header, cells, fillvalue=''))


def counts_in(text: str, title: str = '') -> List[Tuple[str, str, float]]:
    """``(kind, text, scale)`` of the counts quoted in ``text`` (a line of prose, or a table cell under ``title``):
    integers with thousands separators, and multiply-adds (``4.386 GMACs``, or any decimal in a GMACs/MMACs column)."""
    found = [('int', sign + digits, 1.0) for sign, digits in THOUSANDS.findall(text)]
    scale = 1e9 if title.startswith('GMACs') else 1e6 if title.startswith('MMACs') else None
    if scale:
        found += [('macs', sign + digits, scale) for sign, digits in DECIMAL.findall(text)]
    else:
        found += [
            ('macs', sign + digits, 1e9) for sign, digits in re.findall(r'(?<![\w.])([+-]?)(\d+\.\d+)\s*GMACs', text)
        ]
    return found


def unknown_counts(page: str, text: Optional[str] = None) -> List[str]:
    """Counts of ``page`` (or of ``text``) that are no count of tests/counts.yaml, and table rows whose counts are
    no one entry's."""
    prose, _ = split_code(read(page) if text is None else text)
    prose = [(number, without_code_spans(line)) for number, line in prose]
    problems = []
    for number, line in prose:
        if line.lstrip().startswith('|'):
            continue
        for kind, text, scale in counts_in(line):
            if not any(entry.quotes(kind, text, scale) for entry in ENTRIES):
                problems.append(f'{page}:{number}: {text} is no count of tests/counts.yaml')
    for number, row in table_rows(prose):
        quoted = [count for title, cell in row for count in counts_in(cell, title)]
        if not quoted:
            continue
        unknown = [text for kind, text, scale in quoted if not any(e.quotes(kind, text, scale) for e in ENTRIES)]
        if unknown:
            problems.append(f'{page}:{number}: {", ".join(unknown)} no count of tests/counts.yaml')
        elif not any(all(entry.quotes(*count) for count in quoted) for entry in ENTRIES):
            problems.append(
                f'{page}:{number}: the counts of this row ({", ".join(t for _, t, _ in quoted)}) are '
                'not those of one entry of tests/counts.yaml'
            )
    return problems


@pytest.mark.parametrize('page', COUNT_PAGES)
def test_quoted_counts_are_the_tested_ones(page):
    assert osp.isfile(osp.join(REPO_ROOT, page)), page
    problems = unknown_counts(page)
    assert not problems, '\n'.join(problems)


def test_the_count_check_can_fail():
    def quoted(kind, text, scale=1.0):
        return any(entry.quotes(kind, text, scale) for entry in ENTRIES)

    assert quoted('int', '23,789,568')  # RLA-ResNet-50
    assert not quoted('int', '23,789,569')
    assert quoted('int', '+34,944')  # RegNet-20 ConvRNN over ResNet-20
    assert not quoted('int', '+23,789,568')  # a count, not an increase
    assert quoted('macs', '4.386', 1e9) and quoted('macs', '4.472', 1e9)  # RLA-ResNet-50 as run, literally
    assert not quoted('macs', '4.385', 1e9)
    assert quoted('macs', '+6.01', 1e6)  # the same increase in MMACs
    assert counts_in('| 4.386 (4.472) |', 'GMACs as run') == [('macs', '4.386', 1e9), ('macs', '4.472', 1e9)]
    assert counts_in('runs 4.386 GMACs, 23,789,568 parameters, ratio 1.067') == [
        ('int', '23,789,568', 1.0),
        ('macs', '4.386', 1e9),
    ]
    lines = [(1, '| model | GMACs (as run) | paper GFLOPs |'), (2, '|---|---|---|'), (3, '| x | 4.386 | 4.17 |')]
    assert list(table_rows(lines)) == [(3, [('model', 'x'), ('GMACs (as run)', '4.386'), ('paper GFLOPs', '4.17')])]
    # A row must quote one entry: RLA-ECA-ResNet-50's parameters with RLA-ResNet-50's multiply-adds is caught.
    text = (
        '| backbone | params | GMACs |\n|---|---|---|\n| RLA-ECA-ResNet-50 | 23,789,654 | 4.472 |\n'
        '| RLA-ECA-ResNet-50 | 23,789,654 | 4.478 |\n\nIt runs 4.999 GMACs, `23,789,569` in code is no count.\n'
    )
    assert [problem.split(':')[1] for problem in unknown_counts('page.md', text)] == ['6', '3']
