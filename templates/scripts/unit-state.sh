# One line for unit @UNIT@, tab-separated: name, is-enabled, is-active, main PID, the main
# process's start (epoch seconds to ~10 ms: now - uptime + start ticks, 0 when not
# running), its environment (entries separated by \036) and systemd's Environment= for
# the unit (same separator). @MAIN_PID@ is the main-pid script.
e=$(systemctl is-enabled @UNIT@ 2>/dev/null)
a=$(systemctl is-active @UNIT@ 2>/dev/null)
p=$(@MAIN_PID@)
printf '%s\t%s\t%s\t%s\t' @UNIT@ "${e:-unknown}" "${a:-unknown}" "${p:-0}"
if [ "${p:-0}" != 0 ] && [ -r /proc/$p/environ ]; then
  st=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f20)
  awk -v n="$(date +%s.%N)" -v u="$(cut -d' ' -f1 /proc/uptime)" -v s="$st" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f\t", n - u + s / t }'
  tr '\0' '\036' < /proc/$p/environ
else
  printf '0\t'
fi
printf '\t'
systemctl show -p Environment --value @UNIT@ 2>/dev/null | tr ' ' '\036'
echo
