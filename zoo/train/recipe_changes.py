"""The recipe changes a run was resumed with, and from which step: what its export says of a
run whose settings changed on the way, rather than claiming the last recipe for every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RecipeChanges", "changed_keys"]

_UNSET = object()


def changed_keys(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ, as ``key: old -> new``."""
    def shown(value: Any) -> str:
        return "unset" if value is _UNSET else repr(value)

    changed = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, _UNSET), after.get(key, _UNSET)
        if isinstance(old, dict) and isinstance(new, dict):
            changed += changed_keys(old, new, f"{prefix}{key}.")
        elif old != new:
            changed.append(f"{prefix}{key}: {shown(old)} -> {shown(new)}")
    return changed


@dataclass
class RecipeChanges:
    """The changes earlier resumes made (``{"step": N, "changes": [...]}``, N the step they
    took effect after), and this resume's own, which count once a step is trained with them."""

    earlier: list[dict[str, Any]] = field(default_factory=list)
    resumed_at: int | None = None
    resumed_recipe: dict[str, Any] | None = None
    now: list[str] = field(default_factory=list)

    @classmethod
    def resumed(cls, meta: dict[str, Any], recipe: dict[str, Any], world: int = 1) -> RecipeChanges:
        """The changes of a resume from a checkpoint's ``meta`` with ``recipe`` (as saved) on
        ``world`` processes: another number of processes is one too, ``data.batch`` being per
        process (a step's patches change with it)."""
        now = changed_keys(meta["recipe"], recipe)
        saved_world = meta.get("world", 1)
        if saved_world != world:
            before = saved_world * meta["recipe"].get("data", {}).get("batch", 0)
            now.append(f"processes: {saved_world} -> {world} (patches per step: {before} -> "
                       f"{world * recipe['data']['batch']})")
        return cls(list(meta.get("recipe_changes", [])), meta["step"], meta["recipe"], now)

    def trained_since(self, step: int) -> bool:
        """Whether the run, now at ``step``, trained a step since it was resumed (or started)."""
        return self.resumed_at is None or step > self.resumed_at

    def applied(self, step: int) -> list[dict[str, Any]]:
        """Every change that steps were trained with, by the step it took effect after."""
        return self.saved() if self.trained_since(step) else list(self.earlier)

    def saved(self) -> list[dict[str, Any]]:
        """The changes a checkpoint records: this resume's too, once saved with its recipe (a
        stage that ends at the resume saves before any step; the next resume would not see
        the change again)."""
        now = [{"step": self.resumed_at, "changes": self.now}] if self.now else []
        return [*self.earlier, *now]

    def trained_recipe(self, recipe: dict[str, Any], step: int) -> dict[str, Any]:
        """The recipe the last steps were trained with: ``recipe``, or the checkpoint's when a
        resume trained nothing (a finished run exported again with other settings)."""
        if self.resumed_recipe is None or self.trained_since(step):
            return recipe
        return self.resumed_recipe
