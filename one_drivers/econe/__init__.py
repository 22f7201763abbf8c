"""econe: the EC2 Query server in front of OpenNebula."""
