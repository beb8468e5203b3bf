"""Record / replay cache of search results and fetched pages (a :class:`~webglm.protocols.PageStore`).

A *recording* run looks things up in the store first and saves every search result list and
page it obtains, under a snapshot label (by default today's UTC date). A *replay* run opens the
store read-only and answers only from it, so its retrieval is identical to the recording's and
its numbers repeat. Keys: search results by ``(engine, query, snapshot)``, pages by
``(url, snapshot)``; a replay without an explicit snapshot reads the latest one recorded.

Contract for the retriever (``WebGLM(page_store=store, replay=True)``):

* before searching, call ``get_hits(engine, query)``; a hit list is used as is;
* before fetching, call ``get_page(url)``; a page is used as is (it is the raw HTML/text as
  fetched, so extraction and chunking run again, identically);
* when ``store.replay`` is true, a ``None`` answer is a recorded failure for that item
  (``Failure(kind="replay_miss")``), never a network request;
* otherwise fetch live and ``put_hits`` / ``put_page`` what arrived. Optionally
  ``put_failure(url, kind, detail)`` records a page that could not be fetched, and
  ``get_failure(url)`` returns it on replay so the failure repeats with its original kind.

The store is a single sqlite file (WAL), safe to share between the coroutines of one process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from ..errors import EvalError
from ..types import Failure, Page, SearchHit, from_dict, to_dict

Mode = Literal["record", "replay"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (engine TEXT NOT NULL, query TEXT NOT NULL, snapshot TEXT NOT NULL,
    recorded_at REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (engine, query, snapshot));
CREATE TABLE IF NOT EXISTS pages (url TEXT NOT NULL, snapshot TEXT NOT NULL, recorded_at REAL NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (url, snapshot));
CREATE TABLE IF NOT EXISTS failures (url TEXT NOT NULL, snapshot TEXT NOT NULL, recorded_at REAL NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (url, snapshot));
"""


def today() -> str:
    """Today's UTC date, the default snapshot label of a recording."""
    return time.strftime("%Y-%m-%d", time.gmtime())


class RecordReplayStore:
    """sqlite-backed :class:`~webglm.protocols.PageStore` for record and replay runs."""

    def __init__(self, path: str | Path, *, mode: Mode = "record", snapshot: str | None = None):
        if mode not in ("record", "replay"):
            raise EvalError(f"unknown store mode {mode!r}", hint="use 'record' or 'replay'")
        self.path, self.mode = Path(path), mode
        self.snapshot = snapshot or (today() if mode == "record" else None)
        self.misses: list[Failure] = []
        self.served = 0
        self._lock = threading.Lock()
        self._db = self._connect()

    @property
    def replay(self) -> bool:
        """True when only the cache may be used (a miss is a failure, not a fetch)."""
        return self.mode == "replay"

    def _connect(self) -> sqlite3.Connection:
        if self.replay:
            if not self.path.exists():
                raise EvalError(f"replay cache not found: {self.path}", url=str(self.path),
                                hint="record a run first with the same cache path")
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.commit()
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RecordReplayStore:  # noqa: PYI034 - no typing.Self on Python 3.10
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups -----------------------------------------------------------------

    def _lookup(self, table: str, where: str, args: tuple, columns: str = "data") -> tuple | None:
        """Row of the pinned snapshot (record mode, or replay with a snapshot) or the latest one."""
        if self.snapshot is not None:
            sql = f"SELECT {columns} FROM {table} WHERE {where} AND snapshot = ?"
            args = (*args, self.snapshot)
        else:
            sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY snapshot DESC LIMIT 1"
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _miss(self, stage: str, detail: str, url: str = "") -> None:
        if self.replay:
            self.misses.append(Failure(stage=stage, kind="replay_miss", detail=detail, url=url))

    def get_hits(self, engine: str, query: str) -> list[SearchHit] | None:
        """Recorded hits of ``engine`` for ``query``, or None."""
        row = self._lookup("hits", "engine = ? AND query = ?", (engine, query))
        if row is None:
            self._miss("search", f"no recorded results of {engine!r} for this query")
            return None
        self.served += 1
        return [from_dict(SearchHit, h) for h in json.loads(row[0])]

    def get_page(self, url: str) -> Page | None:
        """The recorded page for ``url`` (the URL that was requested), or None."""
        row = self._lookup("pages", "url = ?", (url,))
        if row is None:
            if self.get_failure(url) is None:
                self._miss("fetch", "page not in the replay cache", url)
            return None
        self.served += 1
        return from_dict(Page, json.loads(row[0]))

    def get_failure(self, url: str) -> Failure | None:
        """A recorded fetch failure of ``url`` (so a replay repeats it), or None."""
        row = self._lookup("failures", "url = ?", (url,), columns="kind, detail")
        return Failure(stage="fetch", kind=row[0], detail=row[1], url=url) if row else None

    # -- recording -----------------------------------------------------------------

    def _put(self, sql: str, args: tuple) -> None:
        if self.replay:
            return  # a replay never changes the recording
        with self._lock:
            # First write wins within a snapshot, so every question of a recording sees the
            # same page that a replay will serve.
            self._db.execute(sql, args)
            self._db.commit()

    def put_hits(self, engine: str, query: str, hits: Sequence[SearchHit]) -> None:
        data = json.dumps([to_dict(h) for h in hits], ensure_ascii=False)
        self._put("INSERT OR IGNORE INTO hits VALUES (?, ?, ?, ?, ?)",
                  (engine, query, self.snapshot, time.time(), data))

    def put_page(self, page: Page) -> None:
        data = json.dumps(to_dict(page), ensure_ascii=False)
        self._put("INSERT OR IGNORE INTO pages VALUES (?, ?, ?, ?)", (page.url, self.snapshot, time.time(), data))

    def put_failure(self, url: str, kind: str, detail: str = "") -> None:
        self._put("INSERT OR IGNORE INTO failures VALUES (?, ?, ?, ?, ?)",
                  (url, self.snapshot, time.time(), kind, detail[:500]))

    def stats(self) -> dict[str, int]:
        """Counts of stored items and of this session's served lookups and misses."""
        with self._lock:
            counts = {t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("hits", "pages", "failures")}
        return {**counts, "served": self.served, "misses": len(self.misses)}


class RecordingSearchEngine:
    """Wraps a live :class:`~webglm.protocols.SearchEngine`: answers from the store when it
    can, otherwise searches and records the results."""

    def __init__(self, engine, store: RecordReplayStore):
        self.engine, self.store = engine, store
        self.name = engine.name

    async def search(self, query: str, k: int) -> list[SearchHit]:
        hits = self.store.get_hits(self.name, query)
        if hits is None:
            hits = list(await self.engine.search(query, k))
            self.store.put_hits(self.name, query, hits)
        return hits[:k]


class ReplaySearchEngine:
    """A :class:`~webglm.protocols.SearchEngine` that only serves recorded results; a query
    that was never recorded raises ``SearchError`` (no network is touched)."""

    def __init__(self, store: RecordReplayStore, name: str):
        self.store, self.name = store, name

    async def search(self, query: str, k: int) -> list[SearchHit]:
        from ..errors import SearchError

        hits = self.store.get_hits(self.name, query)
        if hits is None:
            raise SearchError(f"{self.name}: query not in the replay cache", hint="record it first")
        return hits[:k]
