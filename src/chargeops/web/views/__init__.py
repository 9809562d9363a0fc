"""The console's pages, one module per area: each has a ``router`` and its ``NAV``
entries (see web/__init__.py for how they are mounted)."""
