"""User-facing errors: the CLI prints these as one line, without a traceback."""


class ZooError(Exception):
    """An error whose message is complete for the user (what went wrong and what to do)."""


class WeightsError(ZooError):
    """Weights are missing, corrupt, or do not fit the architecture."""


class ImageError(ZooError):
    """An input image cannot be used; the message names the file and the problem."""


class DataError(ZooError):
    """A dataset is missing or unusable."""


class RecipeError(ZooError):
    """A training recipe is invalid."""
