"""Placeholder: the demo grows with the drivers."""

print("one_drivers demo: nothing to show yet")
