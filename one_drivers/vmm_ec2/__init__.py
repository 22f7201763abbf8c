"""The ec2 VMM driver: VM actions on EC2 instances, the EC2 section -> RunInstances mapping.

- `section`: VM document -> RunInstances kwargs (pure; SectionError names the bad attribute).
- `actions.Ec2Vmm(clients).run(action, VmRequest, control) -> info`: every VMM action (spec §4).
- `main:main`: the `one_vmm_ec2` program (line protocol, plus a unix socket for the scripts).
- `remote.script_main(action, argv)`: the `remotes/vmm/ec2/<action>` scripts; `request`: their argv/stdin.
"""
