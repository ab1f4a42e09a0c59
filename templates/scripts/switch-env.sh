# Restarts @UNITS@ with one extra [Service] line, @LINE@ (an environment change), from a
# runtime drop-in /run/systemd/system/<unit>.d/@DROPIN@ (@DROPINS@, in @DIRS@) that is
# removed right after the restart: the running processes keep the change, the
# configuration on disk never has it (the next restart undoes it). Signals are ignored
# so a restart is never half done.
trap '' HUP INT TERM
for u in @UNITS@; do mkdir -p /run/systemd/system/$u.d && printf '[Service]\n@LINE@\n' > /run/systemd/system/$u.d/@DROPIN@; done
systemctl daemon-reload; rc=0; systemctl restart @UNITS@ || rc=$?
rm -f @DROPINS@; rmdir @DIRS@ 2>/dev/null; systemctl daemon-reload; exit $rc
