# prometheus' verify: waits for its /-/ready to answer 200 (@WAIT_READY@: it
# answers 503 while it replays its write-ahead log after a (re)start), prints the last
# status, then the addresses listening on port @PORT@ on one line.
@WAIT_READY@
echo "$c"
ss -Hltn 'sport = :@PORT@' | awk '{print $4}' | sort -u | tr '\n' ' '
