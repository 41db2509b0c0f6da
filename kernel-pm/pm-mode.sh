#!/usr/bin/env bash
# Puts a host or a network namespace in userspace or in-kernel MPTCP path-manager mode, and reports it.
#   pm-mode.sh userspace [--netns NAME]   # net.mptcp.path_manager=userspace (or pm_type=1 on older kernels)
#   pm-mode.sh kernel    [--netns NAME]   # back to the in-kernel path manager
#   pm-mode.sh show      [--netns NAME]
set -euo pipefail

usage() { echo "usage: $0 userspace|kernel|show [--netns NAME]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift
ns=""
while [ $# -gt 0 ]; do
    case "$1" in
        --netns) ns=${2:?--netns needs a name}; shift 2 ;;
        *) usage ;;
    esac
done

run() { if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi; }

if ! run test -e /proc/sys/net/mptcp/enabled; then
    echo "error: this kernel has no MPTCP (no /proc/sys/net/mptcp): build with CONFIG_MPTCP=y" >&2
    exit 1
fi

has_path_manager=0
run test -e /proc/sys/net/mptcp/path_manager && has_path_manager=1

case "$mode" in
    userspace|kernel)
        run sysctl -qw net.mptcp.enabled=1
        if [ "$has_path_manager" = 1 ]; then
            run sysctl -qw "net.mptcp.path_manager=$mode"
        else
            run sysctl -qw "net.mptcp.pm_type=$([ "$mode" = userspace ] && echo 1 || echo 0)"
        fi
        ;;
    show) ;;
    *) usage ;;
esac

if [ "$has_path_manager" = 1 ]; then
    echo "path_manager=$(run cat /proc/sys/net/mptcp/path_manager) pm_type=$(run cat /proc/sys/net/mptcp/pm_type) netns=${ns:-host}"
else
    echo "pm_type=$(run cat /proc/sys/net/mptcp/pm_type) netns=${ns:-host}"
fi
