#!/bin/sh
# After a switch, through the proxy itself (switch.sh, verify_through_proxy): sh -c TEXT sh
# TRY_TIMEOUT HOST WANT HEALTH_PATH. Prints "routed:" and which app and slot answer for HOST; only
# when that is WANT and HEALTH_PATH is not empty, the health path's answer through the proxy follows
# (wget -S: its status lines).
routed=$(timeout "$1" wget -q -O - --header "Host: $2" "http://127.0.0.1:80/__bluegreen/slot/${3%% *}" 2>/dev/null)
echo "routed:$routed"
[ "$routed" = "$3" ] && [ -n "$4" ] || exit 0
timeout "$1" wget -q -S -O /dev/null --header "Host: $2" "http://127.0.0.1:80$4" 2>&1
