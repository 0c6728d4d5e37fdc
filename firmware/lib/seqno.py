# The per-device event counter, persisted before use so a seq is never handed out twice,
# even when power fails between taking it and storing the event.
import os
from micropython import const

_SEQ_MAX = const(2147483647)


class Seq:
    def __init__(self, path):
        self.path = path
        self.last = 0
        try:
            with open(path) as f:
                self.last = int(f.read().strip() or 0)
        except (OSError, ValueError):
            self.last = 0

    def next(self):
        n = self.last % _SEQ_MAX + 1
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(n))
        os.rename(tmp, self.path)  # atomic on LittleFS and POSIX: old or new value, never half
        self.last = n
        return n
