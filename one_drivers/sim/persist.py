"""Optional persistence of the simulator's pools in one SQLite file (`--state FILE`).

The whole cloud (pools and id counters) is stored as one pickled snapshot row after every call that
may change state, so a restarted simulator continues where it stopped. Only the simulator reads it.
"""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path
from typing import Any

from one_drivers.sim.cloud import Cloud
from one_drivers.sim.kinds import KINDS

POOLS = (*(kind.pool for kind in KINDS.values()), "next_id", "request_seq")


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 0), body BLOB NOT NULL)"
        )
        self.db.commit()

    def load(self, cloud: Cloud) -> bool:
        row = self.db.execute("SELECT body FROM state WHERE id = 0").fetchone()
        if row is None:
            return False
        snapshot: dict[str, Any] = pickle.loads(row[0])  # our own file, written below
        for name in POOLS:
            if name in snapshot:  # a file from before a pool existed keeps that pool's bootstrap
                setattr(cloud, name, snapshot[name])
        for kind in KINDS.values():
            cloud.next_id.setdefault(kind.name, kind.first_id)
        return True

    def save(self, cloud: Cloud) -> None:
        # VMs are pickled without their cached bodies (Vm.__getstate__), which keeps the file small.
        snapshot = {name: getattr(cloud, name) for name in POOLS}
        body = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
        self.db.execute("INSERT OR REPLACE INTO state (id, body) VALUES (0, ?)", (body,))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
