"""The self-test's bookkeeping: checks run one by one, isolated, and the report they make.

A :class:`Check` is a named function of the run's :class:`~mmdet_rla.gpu_check.Context` that
returns one or more :class:`Row` s (a measured value, its tolerance, pass or fail). :func:`run_checks`
runs every check in its own ``try``: an exception becomes a failed row carrying the exception's first
line, and the next check runs regardless, so one broken op or backbone cannot hide the state of the
others. The report is rewritten after every check, so a run that is killed (a time limit, a hung
kernel) still leaves what it measured so far.
"""

import dataclasses
import gc
import json
import math
import os
import time
import traceback
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch

PASS, FAIL, NOT_MEASURED = 'pass', 'fail', 'n/a'


@dataclasses.dataclass
class Row:
    """One line of the report.

    ``kind`` is ``'check'`` (``measured`` against ``tolerance``) or ``'figure'`` (a measurement to
    read, such as a time ratio: it passes when it was measured). ``text`` is how the table shows the
    measurement, ``tolerance_text`` the criterion; ``reason`` is the one-line cause of a failure.
    """

    name: str
    status: str
    measured: Optional[float] = None
    text: str = ''
    tolerance: Optional[float] = None
    tolerance_text: str = ''
    kind: str = 'check'
    reason: str = ''
    note: str = ''
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


def _fmt(value: float) -> str:
    return f'{value:.2e}' if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4) else f'{value:.4g}'


def at_most(
    name: str,
    measured: float,
    tolerance: float,
    *,
    what: str = 'relative error',
    note: str = '',
    details: Optional[dict] = None,
) -> Row:
    """A row that passes when ``measured`` is finite and ``<= tolerance``."""
    ok = math.isfinite(measured) and measured <= tolerance
    reason = (
        ''
        if ok
        else (
            f'{what} {_fmt(measured)} exceeds the tolerance {_fmt(tolerance)}'
            if math.isfinite(measured)
            else f'{what} is {measured} (not finite)'
        )
    )
    return Row(
        name,
        PASS if ok else FAIL,
        measured,
        _fmt(measured),
        tolerance,
        f'<= {_fmt(tolerance)}',
        reason=reason,
        note=note,
        details=dict(details or {}),
    )


def figure(name: str, measured: Optional[float], text: str, *, note: str = '', details: Optional[dict] = None) -> Row:
    """A measurement without a pass criterion (a time or memory ratio); ``measured=None``: not measurable here."""
    return Row(
        name,
        PASS if measured is not None else NOT_MEASURED,
        measured,
        text,
        None,
        '—',
        kind='figure',
        note=note,
        details=dict(details or {}),
    )


def failed(name: str, reason: str, *, details: Optional[dict] = None) -> Row:
    return Row(name, FAIL, reason=reason, text='—', tolerance_text='—', details=dict(details or {}))


@dataclasses.dataclass
class Check:
    """A named, isolated unit of the self-test: ``run(context)`` returns its rows."""

    name: str
    section: str
    run: Callable[[Any], List[Row]]


def one_line(error: BaseException) -> str:
    """``Type: first line of the message`` (CUDA and compiler errors carry pages of context)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[0] if lines else ""}'.rstrip(': ')[:300]


def _release(device: torch.device) -> None:
    """What a check leaves behind goes before the next one starts (memory figures, OOM after OOM)."""
    gc.collect()
    if device.type == 'cuda':
        try:
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
        except RuntimeError:  # a sticky CUDA error: the next check reports it
            pass


def run_checks(checks: Sequence[Check], context: Any, on_row: Callable[[int, Row], None]) -> List[Row]:
    """Run every check, each in its own ``try``; ``on_row(index of the check, row)`` sees every row as soon
    as it exists."""
    rows: List[Row] = []
    for index, check in enumerate(checks):
        start = time.perf_counter()
        try:
            produced = list(check.run(context))
            if not produced:
                produced = [failed(check.name, 'the check produced no result')]
        except Exception as error:  # noqa: BLE001 -- isolation is the point: report and go on
            produced = [failed(check.name, one_line(error), details=dict(traceback=traceback.format_exc()))]
        finally:
            _release(context.device)
        seconds = time.perf_counter() - start
        for row in produced:
            row.seconds = seconds / len(produced)
            row.details.setdefault('section', check.section)
            rows.append(row)
            on_row(index, row)
    return rows


# ------------------------------------------------------------------------------ the report files
COLUMNS = ('check', 'result', 'measured', 'tolerance', 's', 'note / reason')


def table_lines(rows: Iterable[Row]) -> List[str]:
    """The Markdown table of the rows (also what the command prints last)."""
    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    for row in rows:
        result = {PASS: 'PASS', FAIL: '**FAIL**', NOT_MEASURED: 'n/a'}[row.status]
        note = row.reason if row.status == FAIL else row.note
        cells = (
            f'`{row.name}`',
            result,
            row.text or '—',
            row.tolerance_text or '—',
            f'{row.seconds:.1f}',
            note.replace('|', '/'),
        )
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def summary(rows: Sequence[Row]) -> Dict[str, int]:
    return {status: sum(row.status == status for row in rows) for status in (PASS, FAIL, NOT_MEASURED)}


def write_report(
    out_dir: str, environment: dict, settings: dict, rows: Sequence[Row], *, finished: bool, notes: Sequence[str] = ()
) -> None:
    """``report.json`` (everything, per row) and ``report.md`` (environment, table, failures, notes)."""
    os.makedirs(out_dir, exist_ok=True)
    counts = summary(rows)
    data = dict(
        finished=finished,
        all_passed=finished and counts[FAIL] == 0,
        counts=counts,
        environment=environment,
        settings=settings,
        notes=list(notes),
        checks=[dataclasses.asdict(row) for row in rows],
    )
    _write_atomically(os.path.join(out_dir, 'report.json'), json.dumps(data, indent=2, default=str))
    md = [
        '# mmdet_rla GPU self-test',
        '',
        f'{"Finished" if finished else "UNFINISHED (the run stopped early)"}: {counts[PASS]} passed, '
        f'{counts[FAIL]} failed, {counts[NOT_MEASURED]} not measurable on this device.',
        '',
        '## Environment',
        '',
    ]
    md += [f'- {key}: {value}' for key, value in environment.items()]
    md += ['', '## Settings', '']
    md += [f'- {key}: {value}' for key, value in settings.items()]
    md += ['', '## Checks', ''] + table_lines(rows)
    failures = [row for row in rows if row.status == FAIL]
    if failures:
        md += ['', '## Failures', '']
        md += [f'- `{row.name}`: {row.reason}' for row in failures]
    if notes:
        md += ['', '## Notes', ''] + [f'- {note}' for note in notes]
    _write_atomically(os.path.join(out_dir, 'report.md'), '\n'.join(md) + '\n')


def _write_atomically(path: str, text: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)
