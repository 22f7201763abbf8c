"""Outbound EC2 side: boto3 clients per host, credentials/endpoint resolution, type catalog, errors.

- `config.load_config(path) -> DriverConfig`: ec2_driver.conf (upstream layouts, `:key:` spelling).
- `clients.Ec2Clients(config).for_host(host) -> (boto3 client, Ec2Settings)`: host template ->
  YAML -> boto3 chain, one cached client per (host, credentials, region, endpoint, profile).
- `errors.classify(exc) -> ErrorKind`, `errors.describe(exc)`: the one EC2 error classification.
"""
