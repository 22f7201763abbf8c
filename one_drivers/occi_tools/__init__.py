"""The `occi-*` client commands: upstream's occi-compute, occi-network, occi-storage, occi-instance-type."""
