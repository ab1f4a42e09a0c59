# The host's run lock holder: takes a kernel lock (flock) on the directory @DIR@ without
# waiting, records its owner @OWNER@ in @DIR@/run.owner and prints `acquired <pid> <previous
# owner>`, then holds the lock, writing a byte a second to the run: the first write after the
# run is gone (killed, disconnected) kills it and the kernel drops the lock. A paused run keeps
# its connection and so its lock. Prints `held <owner>` when another run holds it, and
# `unwritable <mount> <free bytes> <error>` when the owner cannot be recorded (nothing is left).
# Released by its owner only: the line `release` on the holder's input (the run's own
# session, so no other command is needed), or SIGTERM to <pid>; either removes the owner
# record and ends the holder. An input that ends without the line releases nothing.
# @FIRST@, when not empty, is the run's first command: it runs once the lock is held, before
# the first heartbeat, and its output ends with the marker @MARK@ (stdout: a newline, then
# `@MARK@ <exit code>`; stderr: `@MARK@`). The run reads the host under its lock in the same
# round trip that takes it.
# Few processes: this runs at the start of every run (flock, mv, one sleep a second).
exec 8<&0
d=@DIR@; o="$d/run.owner"; tab='	'
space() { df -P -B1 "$1" 2>/dev/null | awk 'NR==2 {print $6 "\t" $4}'; }
if [ ! -d "$d" ] && ! err=$(mkdir -p "$d" 2>&1); then printf 'unwritable\t%s\t%s\n' "$(space "$(dirname "$d")")" "$err"; exit 0; fi
exec 9<"$d"
if ! flock -n 9; then
  h=; [ -r "$o" ] && IFS= read -r h <"$o"
  printf 'held\t%s\n' "${h%%"$tab"*}"; exit 0
fi
# The owner record is one line that ebpf-lab wrote; the run shortens it for its message.
prev=; [ -r "$o" ] && IFS= read -r prev <"$o"
if ! err=$( { printf '%s\n' @OWNER@ > "$o.new" && mv -f "$o.new" "$o"; } 2>&1 ); then
  rm -f "$o.new"; printf 'unwritable\t%s\t%s\n' "$(space "$d")" "$(printf %s "$err" | tr '\n' ' ')"; exit 0
fi
trap 'rm -f "$o"; exit 0' TERM
printf 'acquired\t%s\t%s\n' "$$" "${prev%%"$tab"*}"
# The release line, read in the background (a subshell, no process started) from the
# input kept on fd 8 (an asynchronous list's own stdin is /dev/null).
{ read -r l <&8 && [ "$l" = release ] && kill -TERM $$; } 9<&- >/dev/null 2>&1 &
first=@FIRST@
if [ -n "$first" ]; then
  # Neither the lock (fd 9) nor the run's input (fd 8) goes to the command or what it starts.
  (eval "$first") </dev/null 8<&- 9<&-
  printf '\n%s %s\n' @MARK@ "$?"
  printf '%s\n' @MARK@ >&2
fi
# The sleep must not inherit the lock: only this shell holds it. Nor the run's output: the
# session ends when the last holder of its output closes it, so a sleep holding it would
# keep a released run waiting up to a second.
while printf '.\n'; do sleep 1 9<&- >/dev/null 2>&1 & wait $!; done
