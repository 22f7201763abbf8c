"""OpenNebula 5.12-7.4 monitord client of the ec2 driver, started by monitord-client_control.sh.

Not executable on purpose: run_monitord_client runs every executable of ec2.d.
See one_drivers.im_ec2.remote.agent_main.
"""

import sys

from one_drivers.im_ec2.remote import agent_main

if __name__ == "__main__":
    sys.exit(agent_main(sys.argv[1:]))
