"""Registry of model families. Adding a family: one module in this package and one line below."""
from depthlab.families import mlp
from depthlab.families.base import DataShape, Family

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        mlp.FAMILY,
    )
}

__all__ = ["FAMILIES", "DataShape", "Family"]
