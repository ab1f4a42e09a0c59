# Can this kernel delay packets with tc (prio + netem qdiscs)? Tried in a throwaway network
# namespace: prints `rc=<exit>`, tc's first lines of error, and the kernel config lines of
# CONFIG_NET_SCH_NETEM and CONFIG_NET_SCH_PRIO when the config is readable.
out=$(unshare -n sh -c 'ip link set lo up && tc qdisc add dev lo root handle eb00: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1 && tc qdisc add dev lo parent eb00:4 handle eb04: netem delay 1ms' 2>&1); rc=$?
echo "rc=$rc"; echo "$out" | head -3
{ zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null; } | grep -E '^(# )?CONFIG_NET_SCH_(NETEM|PRIO)[= ]'
