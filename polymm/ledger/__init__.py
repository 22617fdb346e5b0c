"""The ledger: the controller's durable memory in one SQLite file (orders, fills, positions, merges, cursors,
the tick journal, the market selection). `Ledger` is in store.py; the rows are records.py; the tables and their
migrations schema.py. The only package that touches SQLite; the fill rules it writes are the pure core's."""

from polymm.ledger.connection import SQLITE_ERRORS
from polymm.ledger.records import FillRecord, LedgerError, NewOrder, OrderRecord
from polymm.ledger.schema import SCHEMA_VERSION
from polymm.ledger.store import Ledger

__all__ = ["SCHEMA_VERSION", "SQLITE_ERRORS", "FillRecord", "Ledger", "LedgerError", "NewOrder", "OrderRecord"]
