# The device's durable events: the seq counter, and the flash outbox that keeps each event (one file,
# named by seq) until the hub's feedback for that seq. One file per event makes add and remove atomic
# without rewriting a journal on every press.
import os
from micropython import const

_SUFFIX = const(".ev")
_SEQ_MAX = const(2147483647)


class Seq:
    """The per-device event counter, persisted before use so a seq is never handed out twice, even
    when power fails between taking it and storing the event."""

    def __init__(self, path):
        self.path = path
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


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass  # exists


class Outbox:
    def __init__(self, path, limit=32):
        self.path = path
        self.limit = limit
        _mkdir(path)
        seqs = []
        for name in os.listdir(path):
            if name.endswith(_SUFFIX):
                try:
                    seqs.append(int(name[: -len(_SUFFIX)]))
                except ValueError:
                    pass
            elif name.endswith(".tmp"):
                os.remove(path + "/" + name)  # a write cut short by power loss
        seqs.sort()
        self.seqs = seqs
        self.dropped = 0
        try:
            with open(path + "/dropped") as f:
                self.dropped = int(f.read())
        except (OSError, ValueError):
            pass

    def __len__(self):
        return len(self.seqs)

    def _file(self, seq):
        return "%s/%010d%s" % (self.path, seq, _SUFFIX)

    def add(self, seq, payload):
        """Store an event; when full, drop (and count) the oldest first."""
        while len(self.seqs) >= self.limit:
            old = self.seqs.pop(0)
            self._unlink(old)
            self.dropped += 1
            self._save_dropped()
        tmp = self.path + "/new.tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
        os.rename(tmp, self._file(seq))
        self.seqs.append(seq)

    def get(self, seq):
        try:
            with open(self._file(seq), "rb") as f:
                return f.read()
        except OSError:
            return None

    def remove(self, seq):
        """Forget an event once its feedback arrived; True if it was here."""
        if seq not in self.seqs:
            return False
        self.seqs.remove(seq)
        self._unlink(seq)
        return True

    def reported(self, n):
        """n drops went out in a status: count only the ones since then."""
        self.dropped = max(0, self.dropped - n)
        self._save_dropped()

    def _unlink(self, seq):
        try:
            os.remove(self._file(seq))
        except OSError:
            pass

    def _save_dropped(self):
        with open(self.path + "/dropped", "w") as f:
            f.write(str(self.dropped))
