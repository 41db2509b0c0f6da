#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing, then runs every test, including those
# against the real kernel in network namespaces (so: as root).
#   sudo ./test.sh            [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Kernel]
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root: the real-kernel tests create network namespaces" >&2
    exit 1
fi

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v tc >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
command -v iptables >/dev/null || need+=(iptables)
command -v ethtool >/dev/null || need+=(ethtool)
command -v ping >/dev/null || need+=(iputils-ping)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/linux/mptcp.h ] || need+=(linux-libc-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null || { echo "test.sh: apt-get install failed" >&2; exit 1; }
fi

dotnet test Smapp.sln "$@"
