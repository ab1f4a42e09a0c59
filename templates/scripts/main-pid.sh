# The main PID of unit @UNIT@ (0 when it is not running); used inside $(...). When systemd
# knows none (MainPID=0), the cgroup's leader (cgroup-leader.sh, @CGROUP_LEADER@).
@CGROUP_LEADER@
p=$(systemctl show -p MainPID --value @UNIT@ 2>/dev/null)
if [ "${p:-0}" = 0 ]; then
  p=$(cgroup_leader "$(systemctl show -p ControlGroup --value @UNIT@ 2>/dev/null)")
fi
echo "${p:-0}"
