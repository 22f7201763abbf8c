"""EC2 actions served by econe, one module per resource family."""
