"""Garbage-collector settings for a long-running server that holds many connections.

CPython's cyclic collector pauses the whole process while it scans every tracked object
of the generation it collects. A gateway holding 10,000 chargers tracks about a million
objects (about a hundred per connection), and a full collection of them measured about
one second on a 2-core machine: a second in which no charger is answered. Two settings
make full collections rare without turning the collector off:

- ``gc.freeze()`` after start-up moves what start-up built (modules, classes, the
  ORM's mappings: about 130,000 objects) out of every later scan.
- A larger first threshold lets the short-lived objects of messages in flight die
  before a collection looks at them, so they are not promoted to the oldest generation.
  Full collections run when that generation has grown by a quarter since the last one
  (CPython's own rule); with fewer promotions, that is mostly when connections are
  added, not while they carry traffic.

Cyclic garbage is still collected: the young generations are scanned as before, only
less often.
"""

from __future__ import annotations

import gc

# (young, middle, old) thresholds; CPython's defaults are (700, 10, 10)
SERVER_THRESHOLDS = (20_000, 20, 100)


def tune_for_server() -> None:
    """Call once, when the server has started and before chargers connect."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_THRESHOLDS)
