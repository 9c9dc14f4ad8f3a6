"""Wiring shared by the macro stages (macro_profile, macro_benchmark, macro_train): a macro architecture's cell."""
from __future__ import annotations

from cell_stage import scaffold_from_params

from blockzoo.macro.networks import macro_cell


def macro_cell_from_params(name: str, params: dict):
    """The cell of macro architecture `name` (blox-II-JJ-KK or A+B+C), from its spec and the stage's params."""
    return macro_cell(name, scaffold_from_params(name, params), params["cell"].get("width", 32))
