"""one_drivers: OpenNebula <-> EC2.

Outbound, the `ec2` VMM and IM drivers burst OpenNebula VMs to any EC2 endpoint; inbound, econe serves the
EC2 Query API in front of OpenNebula's XML-RPC API. See design/ARCHITECTURE.md for the package map.
"""

__version__ = "0.1.0"
