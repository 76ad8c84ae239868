"""Model modules. Importing a module registers its entries: one line per module here."""

from zoo.models import identity  # noqa: F401
