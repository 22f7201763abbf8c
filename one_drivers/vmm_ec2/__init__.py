"""The ec2 VMM driver: VM actions on EC2 instances, the EC2 section -> RunInstances mapping."""
