# The state of many units in one go: unitsProbe's batch (src/resources/systemd.ts). @UNITS@
# are the distinct units (quoted); @PRINT@ prints each probe's lines ("@MARK@ i", then
# "$o_<k>" for each of its units, k = the unit's place in @UNITS@). Each o_<k> is the line
# unit-state.sh prints for that unit: name, enablement (systemd's UnitFileState, what
# `systemctl is-enabled` prints), ActiveState (what `is-active` prints), main PID (the
# cgroup's leader when systemd knows none: cgroup-leader.sh), the main process's start
# (epoch seconds, 3 decimals; 0 when not running), its environment and systemd's Environment=
# (entries separated by \036). One `systemctl show` answers every unit; the rest is the
# shell's own arithmetic and one `tr` per running unit.
@CGROUP_LEADER@
nl='
'
tab='	'
RS=$(printf '\036')
# Lines are cut from the string, not `read` (a system call per byte).
SHOW=$(systemctl show -p UnitFileState,ActiveState,MainPID,ControlGroup,Environment -- @UNITS@ 2>/dev/null)$nl
k=0
while [ -n "$SHOW" ]; do
  l=${SHOW%%"$nl"*}
  SHOW=${SHOW#*"$nl"}
  case $l in
  '') k=$((k + 1)) ;;
  UnitFileState=*) eval "e_$k=\${l#*=}" ;;
  ActiveState=*) eval "a_$k=\${l#*=}" ;;
  MainPID=*) eval "p_$k=\${l#*=}" ;;
  ControlGroup=*) eval "g_$k=\${l#*=}" ;;
  Environment=*) eval "v_$k=\${l#*=}" ;;
  esac
done
now=$(date +%s%N)
hz=$(getconf CLK_TCK)
read -r up _ </proc/uptime
up=${up%.*}${up#*.}0 # milliseconds (uptime has two decimals)
k=0
for u in @UNITS@; do
  eval "e=\${e_$k-} a=\${a_$k-} p=\${p_$k:-0} g=\${g_$k-} v=\${v_$k-}"
  [ "$p" != 0 ] || p=$(cgroup_leader "$g")
  p=${p:-0}
  line=$u$tab${e:-unknown}$tab${a:-unknown}$tab$p$tab
  s=
  if [ "$p" != 0 ] && [ -r /proc/$p/environ ] && read -r s </proc/$p/stat 2>/dev/null; then
    set -- ${s##*) }
    ms=$((now / 1000000 - up + ${20} * 1000 / hz))
    f=$((ms % 1000))
    case ${#f} in 1) f=00$f ;; 2) f=0$f ;; esac
    line=$line$((ms / 1000)).$f$tab$(tr '\0' '\036' </proc/$p/environ)
  else
    line=${line}0$tab
  fi
  set -f
  IFS=' '
  set -- $v
  IFS=$RS
  line=$line$tab$*
  unset IFS
  set +f
  eval "o_$k=\$line"
  k=$((k + 1))
done
@PRINT@
