"""The `one-ec2` admin command: install the ec2 drivers into an OpenNebula, undo it, check a host.

tree.py knows OpenNebula's two layouts and which snippets each release line needs; confblock.py edits the
marked block in oned.conf/monitord.conf; install.py places remotes/ and the configs and records what it did;
check.py is a person's first debugging step for an ec2 host. The files placed ship inside the package
(shipped/; the repository's remotes/ and etc/ snippets are links to it).
"""
