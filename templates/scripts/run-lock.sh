# Takes the host's run lock @LOCK@ (a directory: mkdir is atomic) for @OWNER@ and prints
# `acquired`; takes over a lock older than @STALE_S@ s (its run crashed or lost its
# connection: no heartbeat) and prints `taken-over <age> <previous owner>`; else prints
# `held <age> <owner>`.
mkdir -p @STATE_DIR@
if mkdir @LOCK@ 2>/dev/null; then echo @OWNER@ > @LOCK@/owner; echo acquired; exit 0; fi
age=$(( $(date +%s) - $(stat -c %Y @LOCK@ 2>/dev/null || date +%s) ))
if [ "$age" -gt @STALE_S@ ]; then
  prev=$(cat @LOCK@/owner 2>/dev/null); rm -rf @LOCK@
  if mkdir @LOCK@ 2>/dev/null; then echo @OWNER@ > @LOCK@/owner; echo "taken-over $age $prev"; exit 0; fi
fi
echo "held $age $(cat @LOCK@/owner 2>/dev/null)"
