"""The ec2 IM driver: capacity and monitoring of an EC2 host for every monitoring era."""
