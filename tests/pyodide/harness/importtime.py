"""``python -X importtime`` for a Worker's Pyodide (which takes no -X flags).

The harness runs this before the Worker's first import when the spec asks
for ``profile_imports``. CPython's import machinery calls
``importlib._bootstrap._find_and_load`` for every module not yet in
``sys.modules`` (looked up on the module at each call), so wrapping it
times each first import: cumulative (with the modules it imports) and self.
``report()`` returns the rows, in import order.
"""

import importlib._bootstrap as _bootstrap
import time

_original = _bootstrap._find_and_load
_rows = []  # [name, self_ms, cumulative_ms, depth]
_stack = []  # children's cumulative time, per open import


def _timed_find_and_load(name, import_):
    _stack.append(0.0)
    row = [name, 0.0, 0.0, len(_stack) - 1]
    _rows.append(row)
    start = time.perf_counter()
    try:
        return _original(name, import_)
    finally:
        elapsed = (time.perf_counter() - start) * 1000
        children = _stack.pop()
        row[1], row[2] = elapsed - children, elapsed
        if _stack:
            _stack[-1] += elapsed


_bootstrap._find_and_load = _timed_find_and_load


def stop():
    _bootstrap._find_and_load = _original


def report():
    return [list(r) for r in _rows]
