"""The OpenNebula OCCI service: upstream's XML vocabulary and OGF OCCI 1.2 renderings on one gateway."""
