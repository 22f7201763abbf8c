"""The ec2 IM driver: capacity and monitoring of an EC2 host for every monitoring era.

Modules, in flow order: `instances` (one paginated DescribeInstances, state table, poll strings,
IMPORT_TEMPLATE), `capacity` (CAPACITY x instance sizes), `cycle` (one cycle -> HostSnapshot),
`report` (the text of each era), `reaper` (instances of this cloud's DONE VMs), `cloudwatch` (optional metrics),
`monitor` (the 5.12+ push loop per host), `driver` (MONITOR / START_MONITOR / STOP_MONITOR actions),
`main` (`one_im_ec2`), `remote` (`remotes/im/ec2.d/poll` and `monitord-client.py`).
"""
