"""A writer's own additions to the feed, handed to its index without reading them back.

After an enrolment, catching the index up reads the feed and the new templates again: on
PostgreSQL a read transaction of several round trips, more than the enrolment's own write. The
write knows all of it already. Inside its transaction, holding the feed's write lock (SQLite's
writer lock, PostgreSQL's advisory lock: no other writer can append to the feed until it commits),
it reads the feed's last position and the template space, and gets the positions of its own feed
rows. If the index stood at that position, in that space, the feed's news are exactly these rows,
and the index takes them as they are (:meth:`IndexCache.add_own
<faceprint.store.index_cache.IndexCache.add_own>`); otherwise it catches up from the feed as
always. On PostgreSQL the two reads go out with the write's first query (pipeline mode): they cost
no round trip of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .generations import SPACE_QUERY, TemplateSpace, template_space_of

__all__ = ["OwnAdds"]


@dataclass
class OwnAdds:
    """What one write transaction added to the feed (filled inside it; read after it commits)."""

    before: int = -1  # the feed's last position when the write began (under its lock)
    space: TemplateSpace | None = None
    last: int = -1  # the position of the write's last feed row
    ids: list[int] = field(default_factory=list)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)  # as the index holds them
    _sent: tuple[Any, Any] | None = None
    _seqs: list[Any] = field(default_factory=list)

    def begin(self, conn: Any) -> None:
        """Send the two reads (answered with the transaction's next fetch); a retried transaction
        starts afresh."""
        self.before, self.space, self.last = -1, None, -1
        self.ids.clear()
        self.vectors.clear()
        self._seqs.clear()
        self._sent = (conn.execute("SELECT coalesce(max(seq), 0) FROM changes"), conn.execute(SPACE_QUERY))

    def added(self, template_id: int, protected: NDArray[np.float32], seq: Any) -> None:
        """One template row and the cursor of its feed row's ``RETURNING seq``."""
        self.ids.append(template_id)
        self.vectors.append(protected)
        self._seqs.append(seq)

    def finish(self) -> None:
        """Read the answers (at the end of the transaction's work: one wait for all of them)."""
        if self._sent is not None:
            before, space = self._sent
            self.before = int(before.fetchone()[0])
            self.space = template_space_of(space.fetchall())
            self._sent = None
        for cursor in self._seqs:
            self.last = max(self.last, int(cursor.fetchone()[0]))
        self._seqs.clear()

    @property
    def complete(self) -> bool:
        """Whether the index may take these rows as the feed's news after ``before``."""
        return (
            bool(self.ids)
            and self.space is not None
            and self.space.model is not None
            and self.last > self.before
        )
