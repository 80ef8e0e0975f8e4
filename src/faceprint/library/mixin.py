"""What the :class:`~faceprint.library.library.Library` gives the mixins its verbs are split into."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..gallery import Gallery

__all__ = ["LibraryPart"]


class LibraryPart:
    """The store and the helpers a part of the library's verbs uses (provided by ``Library``)."""

    store: Gallery

    if TYPE_CHECKING:

        @property
        def _db(self) -> Any: ...

        def _audit(
            self, conn: Any, operation: str, results: int | None, detail: str | None = None
        ) -> None: ...

        @staticmethod
        def _now() -> str: ...

        @staticmethod
        def _drop_empty_people(conn: Any) -> None: ...

        def _prune_keys(self) -> None: ...
