"""Model modules. Importing a module registers its entries: one line per module here."""

from zoo.models import identity  # noqa: F401
from zoo.models import arnet  # noqa: F401
from zoo.models import unet  # noqa: F401
