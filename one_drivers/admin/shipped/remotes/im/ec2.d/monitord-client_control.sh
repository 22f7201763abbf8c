#!/usr/bin/env bash
# OpenNebula 5.12-7.4: start/stop the ec2 monitord client for one host (one_im_sh -> run_monitord_client
# and stop_monitord_client run every executable of ec2.d).
#   monitord-client_control.sh [stop] <hypervisor> <ds_location> <port> <host_id> <host>
# stdin (start): base64 of MONITOR_CONFIGURATION (plain XML is accepted too). The client prints the
# <MONITOR_MESSAGES> document for monitord and detaches; `stop` ends it. On 4.4-5.10 run_probes calls
# this without a configuration on stdin: it then prints nothing, leaving the host poll to `poll`.
# ONE_DRIVERS_PYTHON: the python3 with one_drivers installed. `one-ec2 install` writes the absolute path
# of its own interpreter (a virtualenv's on Debian 12 / Ubuntu 24.04) into the PYTHON= line below.

ACTION=start
if [ "$1" = "stop" ]; then
    shift
    ACTION=stop
fi

HID=${4:-${@: -2:1}}
DIR=$(cd "$(dirname "$0")" && pwd)
PYTHON=${ONE_DRIVERS_PYTHON:-python3}
PID_FILE=${ONE_EC2_PID_DIR:-/tmp}/one-im-ec2-monitord-${HID}.pid

stop_client() {
    if [ -f "$PID_FILE" ]; then
        PID=$(cat "$PID_FILE")
        if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
            kill "$PID" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$PID" 2>/dev/null || break
                sleep 0.5
            done
            kill -9 "$PID" 2>/dev/null
        fi
        rm -f "$PID_FILE"
    fi
}

if [ "$ACTION" = "stop" ]; then
    stop_client
    exit 0
fi

# No configuration on stdin (4.4-5.10 probe run, or a terminal): nothing to do.
if [ -t 0 ]; then
    exit 0
fi
STDIN=$(timeout 10 cat -)
if [ -z "${STDIN//[[:space:]]/}" ]; then
    exit 0
fi

stop_client
# monitord-client.py decodes base64 or XML itself and reports a bad stdin in the form this line reads.
printf '%s' "$STDIN" | "$PYTHON" "$DIR/monitord-client.py" --pid-file "$PID_FILE" "$@"
