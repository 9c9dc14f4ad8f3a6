"""Names shared by the library and the light entry points (no torch import here)."""

POSITIONS = ("early", "mid", "late")
BASELINE_BLOCK = "ResNetBasicBlock"
