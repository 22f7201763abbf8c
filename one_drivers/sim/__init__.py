"""A small OpenNebula simulator for tests and the demo; never imported by product code."""
