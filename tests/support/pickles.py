"""Pickle payloads that would run code when unpickled by an unsafe loader (each leaves a sentinel file)."""
from __future__ import annotations

import builtins
import os


class WritesSentinel:
    """Unpickling calls builtins.exec, which writes the sentinel file (only an unsafe loader would)."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return builtins.exec, (f"open({self.sentinel!r}, 'w').write('ran')",)


class SystemCall:
    """Unpickling runs ``touch sentinel`` through os.system."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)
