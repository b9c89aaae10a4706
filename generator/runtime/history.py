"""An instance's context at every record, kept as its changes, not as copies.

The context changes three ways: the created record sets it, a context record merges
values into it (at the top level), and a rollback returns it to what it was after an
earlier record. Keeping the whole context after every change costs memory quadratic in
the number of changes (10,000 updates of one new key each held 1.3 GiB).
:class:`ContextHistory` keeps each change once (the values a record merged: the record's
own data, shared with it), the current context, and now and then a whole copy to rebuild
from, taken only when the changes since the last copy outweigh it. So the copies never
add up to more than about twice the changes, and rebuilding the context after any record
reads at most one copy and changes no larger than it.

Sizes are counted as the limits count them: bytes of JSON text (:func:`.records.json_text`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .records import JSONValue, json_text, text_size

__all__ = ["ContextHistory"]

REBUILD_BYTES: Final = 4096
"""Changes of at least this many bytes pile up before the next whole copy is taken: a
small context is cheaper to rebuild from its changes than to copy after each."""


@dataclass(slots=True, eq=False)
class _Version:
    """The context after record ``seq``: ``parent``'s with ``changes`` merged (a rollback
    merges none: its parent is the version it returns to), or ``base`` when it is kept
    whole. ``since`` counts the bytes of changes since the nearest whole copy up the
    parents, ``budget`` how many may pile up before the next is taken."""

    seq: int
    parent: _Version | None
    changes: Mapping[str, JSONValue]
    base: Mapping[str, JSONValue] | None
    since: int
    budget: int


class ContextHistory:
    """The context after each record that changed it, and the current one.

    Starts from the created record's context (kept, never changed); :meth:`merge` and
    :meth:`restore` add a version, :meth:`at` rebuilds any, :meth:`mark` and :meth:`undo`
    drop the versions a refused change added.
    """

    __slots__ = ("_current", "_entries", "_seqs", "_total", "_versions")

    def __init__(self, created: Mapping[str, JSONValue]) -> None:
        self._current: dict[str, JSONValue] = {}
        self._entries: dict[str, int] = {}
        """The bytes each key's entry takes in the current context's JSON text."""
        self._total = 0
        """Their sum."""
        self._become(dict(created))
        budget = max(REBUILD_BYTES, self.size)
        self._versions = [_Version(1, None, {}, created, 0, budget)]
        self._seqs = [1]

    @property
    def current(self) -> dict[str, JSONValue]:
        """The context now (the history's own: copy it before handing it out)."""
        return self._current

    @property
    def size(self) -> int:
        """The current context's size as JSON text, in bytes."""
        return _object_size(self._total, len(self._entries))

    def size_with(self, values: Mapping[str, JSONValue]) -> int:
        """The context's size as JSON text once ``values`` are merged into it."""
        entries = self._entries
        total, count = self._total, len(entries)
        for key, value in values.items():
            old = entries.get(key)
            total += _entry(key, value) - (old or 0)
            count += old is None
        return _object_size(total, count)

    def merge(self, seq: int, values: Mapping[str, JSONValue]) -> None:
        """Record ``seq`` merged ``values`` (kept as they are: pass the record's own)."""
        last = self._versions[-1]
        entries, added = self._entries, 0
        for key, value in values.items():
            added += (entry := _entry(key, value))
            self._total += entry - entries.get(key, 0)
            entries[key] = entry
        self._current.update(values)
        since, budget, base = last.since + added, last.budget, None
        if since > budget:  # the changes outweigh the last copy: take another
            base, since, budget = dict(self._current), 0, max(REBUILD_BYTES, self.size)
        self._add(_Version(seq, last, values, base, since, budget))

    def restore(self, seq: int, to: int) -> None:
        """Record ``seq`` returned the context to what it was after record ``to``."""
        parent = self._version_at(to)
        self._become(self._rebuild(parent))
        self._add(_Version(seq, parent, {}, None, parent.since, parent.budget))

    def at(self, seq: int) -> dict[str, JSONValue]:
        """The context after record ``seq`` (a new dict; its values are shared)."""
        return self._rebuild(self._version_at(seq))

    def mark(self) -> int:
        """A mark :meth:`undo` returns to."""
        return len(self._versions)

    def undo(self, mark: int) -> None:
        """Drop the versions added since :meth:`mark` returned ``mark``."""
        if len(self._versions) > mark:
            del self._versions[mark:], self._seqs[mark:]
            self._become(self._rebuild(self._versions[-1]))

    def held(self) -> int:
        """How many context entries the history holds: in the whole copies (the current
        context and the created one included) and in the changes."""
        versions = self._versions
        copies = sum(len(version.base) for version in versions if version.base is not None)
        return len(self._current) + copies + sum(len(version.changes) for version in versions)

    def _add(self, version: _Version) -> None:
        self._versions.append(version)
        self._seqs.append(version.seq)

    def _version_at(self, seq: int) -> _Version:
        return self._versions[bisect.bisect_right(self._seqs, seq) - 1]

    def _rebuild(self, version: _Version) -> dict[str, JSONValue]:
        changes: list[Mapping[str, JSONValue]] = []
        found: _Version | None = version
        while found is not None and found.base is None:
            changes.append(found.changes)
            found = found.parent
        assert found is not None and found.base is not None  # the first version is whole
        context = dict(found.base)
        for change in reversed(changes):
            context.update(change)
        return context

    def _become(self, context: dict[str, JSONValue]) -> None:
        self._current = context
        self._entries = {key: _entry(key, value) for key, value in context.items()}
        self._total = sum(self._entries.values())


def _entry(key: str, value: JSONValue) -> int:
    """The bytes ``"key": value`` takes in the JSON text of an object."""
    return text_size(json_text(key)) + 2 + text_size(json_text(value))


def _object_size(entries: int, count: int) -> int:
    """The bytes of a JSON object of ``count`` entries taking ``entries`` bytes: the
    braces and a ``, `` between each two."""
    return 2 + entries + 2 * max(count - 1, 0)
