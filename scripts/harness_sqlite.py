"""Imported first by the harness's Keystone and Heat processes (scripts/openstack-harness.sh):
every SQLite transaction starts with BEGIN IMMEDIATE. oslo.db begins deferred transactions, and
two threads of one process that both read and then write deadlock on SQLite's lock upgrade,
which SQLite reports at once as "database is locked" (no busy timeout helps); an immediate
transaction waits for the lock instead (the busy timeout is the `?timeout=` of the URL). Tests
share one Heat and run stacks in parallel, so this matters."""
import sqlalchemy
from sqlalchemy.engine import Engine


@sqlalchemy.event.listens_for(Engine, "begin")
def _begin_immediate(conn):
    # Runs before oslo.db's own `begin` listener, which then sees the transaction open.
    if conn.dialect.name == "sqlite" and "in_transaction" not in conn.info:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info["in_transaction"] = True
