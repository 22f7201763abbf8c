"""Prometheus metrics of econe and the drivers: the one place prometheus_client is imported."""
