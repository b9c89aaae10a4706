"""What the worker's benchmark and its tests share: the chain of three agents they drive,
and a connection that counts the statements sent through it."""

from __future__ import annotations

from typing import Any

__all__ = ["CHAIN_SPEC", "Counting"]

CHAIN_SPEC = """\
statewright: 1
machine: chain
initial: IDLE
states:
  IDLE: {kind: idle}
  A_RUNNING: {kind: running}
  B_RUNNING: {kind: running}
  C_RUNNING: {kind: running}
  FAILED: {kind: failed, reviewers: [on_call]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: A_RUNNING, trigger: start}
  - {from: A_RUNNING, to: B_RUNNING, trigger: a_done}
  - {from: B_RUNNING, to: C_RUNNING, trigger: b_done}
  - {from: C_RUNNING, to: DONE, trigger: c_done}
  - {from: [A_RUNNING, B_RUNNING, C_RUNNING], to: FAILED, trigger: agent_error, reason: AGENT}
  - {from: FAILED, to: IDLE, trigger: reset, human: true}
reasons:
  AGENT: {recovery: [Read the snapshot, Reset]}
"""


class Counting:
    """A psycopg connection that counts the statements and commits sent through it (a
    ``BEGIN`` the driver sends by itself, outside autocommit mode, is not seen)."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.sent = connection, 0

    @property
    def autocommit(self) -> bool:
        return bool(self.connection.autocommit)

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.connection.autocommit = value

    def cursor(self) -> Any:
        return CountingCursor(self, self.connection.cursor())

    def commit(self) -> None:
        self.sent += self._open()
        self.connection.commit()

    def rollback(self) -> None:
        self.sent += self._open()
        self.connection.rollback()

    def _open(self) -> int:
        """1 when a transaction is open (ending it is a round trip), else 0 (psycopg sends
        nothing for a commit in autocommit mode with no transaction open)."""
        return int(self.connection.info.transaction_status != 0)  # 0: IDLE

    def close(self) -> None:
        self.connection.close()


Counting.__module__ = "psycopg.counting"  # the store reads the driver's paramstyle from it


class CountingCursor:
    def __init__(self, owner: Counting, cursor: Any) -> None:
        self.owner, self.cursor = owner, cursor

    def execute(self, *args: Any) -> Any:
        self.owner.sent += 1
        return self.cursor.execute(*args)

    def executemany(self, *args: Any) -> Any:
        self.owner.sent += 1
        return self.cursor.executemany(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)
