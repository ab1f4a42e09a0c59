# prometheus' verify: waits for its /-/ready to answer 200 (@WAIT_READY@: it
# answers 503 while it replays its write-ahead log after a (re)start), prints the last
# status, then the addresses listening on port @PORT@ on one line, then the rules API's
# answer on one line once the lab's rule group is loaded and every rule was evaluated
# (@WAIT_RULES@: a rule's health is "unknown" until its first evaluation).
@WAIT_READY@
echo "$c"
ss -Hltn 'sport = :@PORT@' | awk '{print $4}' | sort -u | tr '\n' ' '
echo
r=''
@WAIT_RULES@
printf '%s' "$r" | tr -d '\n'
