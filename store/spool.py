"""Local append-only spool: what the store could not take is kept here, in order.

Each batch is one file `<seq>.jsonl` (a header line, then one record per line), written to a
temporary name and renamed, so a crash never leaves half a batch. Replay writes batches in
sequence order and deletes each file only after the store accepted it; documents the store
rejects one by one (bad data, not an outage) go to `rejected/` with the reason, never dropped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from store.base import BulkResult
from store.files import open_private, private_dir
from store.indices import spec_for
from store.records import Record

log = logging.getLogger(__name__)

Writer = Callable[[str, Sequence[Record]], BulkResult]


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rejected_dir = directory / "rejected"
        self._lock = threading.Lock()

    def _batches(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob("*.jsonl"))

    def depth(self) -> int:
        """Number of records waiting in the spool."""
        total = 0
        for path in self._batches():
            with path.open("rb") as fh:
                total += max(sum(1 for _ in fh) - 1, 0)
        return total

    def append(self, kind: str, records: Sequence[Record]) -> None:
        with self._lock:
            private_dir(self.directory)
            existing = self._batches()
            seq = int(existing[-1].stem) + 1 if existing else 1
            final = self.directory / f"{seq:012d}.jsonl"
            tmp = final.with_suffix(".tmp")
            with open_private(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"kind": kind, "count": len(records)}) + "\n")
                for record in records:
                    fh.write(record.model_dump_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(final)

    def replay(self, write: Writer) -> BulkResult:
        """Replay batches in order through `write`; raises StoreUnavailable if still down."""
        total = BulkResult()
        with self._lock:
            for path in self._batches():
                lines = path.read_text("utf-8").splitlines()
                kind = json.loads(lines[0])["kind"]
                model = spec_for(kind).model
                records = [model.model_validate_json(line) for line in lines[1:]]
                result = write(kind, records)  # StoreUnavailable propagates; file is kept
                if result.failed:
                    self._reject(path.stem, kind, result.failed, records)
                path.unlink()
                total = total.merge(result)
                log.info("replayed spool batch %s: %d %s", path.name, result.written, kind)
        return total

    def _reject(
        self, name: str, kind: str, failed: list[tuple[str, str]], records: Sequence[Record]
    ) -> None:
        by_id = {record.id: record for record in records}
        private_dir(self.rejected_dir)
        with open_private(self.rejected_dir / f"{name}.jsonl", "a", encoding="utf-8") as fh:
            for doc_id, reason in failed:
                doc = by_id[doc_id].model_dump(mode="json") if doc_id in by_id else None
                line = {"kind": kind, "id": doc_id, "reason": reason, "record": doc}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        log.error("%d %s rejected during spool replay; see %s", len(failed), kind, name)
