#!/usr/bin/env bash
# bench/host_us: host µs per step on ane-sim (or --backend B) for this build against its copy
# paths and, with --peer BIN, another build, alternating in one run. Arguments: host_us.py --help.
exec /usr/bin/python3 "$(dirname "$0")/host_us.py" "$@"
