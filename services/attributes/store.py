"""The declarations of each tenant's custom attributes (a port; see ``events.attributes``)."""

from __future__ import annotations

import abc
from collections.abc import Mapping

from events.attributes import Declaration


class AttributeStore(abc.ABC):
    """Persistent declarations; ``declared`` is what ingest and the import check against."""

    @abc.abstractmethod
    def declare(self, tenant: str, declaration: Declaration) -> bool:
        """Store (or replace) one declaration; True when it is new for the tenant."""

    @abc.abstractmethod
    def remove(self, tenant: str, name: str) -> bool:
        """Forget one declaration; False when the tenant had none of that name."""

    @abc.abstractmethod
    def declared(self, tenant: str) -> Mapping[str, Declaration]:
        """The tenant's declarations by name, as committed now (by any process)."""
