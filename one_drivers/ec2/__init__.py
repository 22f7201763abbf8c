"""Outbound EC2 side: boto3 clients per host, credentials/endpoint resolution, type catalog, errors."""
