"""Model modules. The registry imports each one named here on first use, which registers its
entries: one line per module in ``MODULES``."""

MODULES: tuple[str, ...] = (
    "identity",
    "arnet",
    "unet",
)
