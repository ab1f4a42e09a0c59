# The load generator, run on the lab host: each second it starts ceil(R/20) curl processes
# of up to 20 requests each over @URLS@ (cycled, on http://127.0.0.1), and prints
# `P <second> <sent> <ok> <errors> <failed>`; `F …` at the end, then `S mod_php=N php-fpm=M`.
# exception.php and error.php answer 500 on purpose (counted ok). A curl process writes
# p.* and renames it c.* when it is done; each second only the newly finished files are
# folded into running totals (and appended to `all`), so the work per second stays the
# same however long the run, and each second starts on the wall clock (start + t), so the
# run takes D seconds, not D times the loop's cost. R = @RATE@ requests/s, D = @SECONDS@ s.
# @WAIT_NEXT_SECOND@ waits for the clock's next second after s0, @WAIT_SECOND_T@ for second
# start + t.
set -- @URLS@
N=$#; R=@RATE@; D=@SECONDS@; tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() { awk '{n++; if ($1 == "000") f++; else if ($1 ~ /^2/ || ($1 == "500" && $2 ~ /(exception|error)\.php/)) ok++; else e++} END {printf "%d %d %d %d\n", n, ok, e, f}'; }
add() { echo "$1 $2" | awk '{printf "%d %d %d %d\n", $1 + $5, $2 + $6, $3 + $7, $4 + $8}'; }
sum="0 0 0 0"; : > "$tmp/all"
tally() {
  new=$(cd "$tmp" && ls | grep '^c\.' | tr '\n' ' ')
  if [ -n "$new" ]; then sum=$(add "$sum" "$(cd "$tmp" && cat $new | tee -a all | count)"); (cd "$tmp" && rm -f $new); fi
  tot=$(add "$sum" "$(cd "$tmp" && ls | grep '^p\.' | xargs -r cat 2>/dev/null | count)")
}
s0=$(date +%s); @WAIT_NEXT_SECOND@
i=0; t=0; start=$(date +%s)
while [ $t -lt $D ]; do
  k=0; c=0
  while [ $k -lt $R ]; do
    args=""; j=0
    while [ $j -lt 20 ] && [ $k -lt $R ]; do eval "u=\${$(( i % N + 1 ))}"; args="$args -o /dev/null http://127.0.0.1$u"; i=$((i + 1)); j=$((j + 1)); k=$((k + 1)); done
    { curl -s -m 10 -w '%{http_code} %{url_effective}\n' $args > "$tmp/p.$t.$c" 2>/dev/null; mv "$tmp/p.$t.$c" "$tmp/c.$t.$c"; } &
    c=$((c + 1))
  done
  t=$((t + 1)); @WAIT_SECOND_T@; tally; echo "P $t $tot"
done
wait; tally; echo "F $tot"
awk '{ s = ($2 ~ /\/fpm\//) ? "php-fpm" : "mod_php"; n[s]++ } END { printf "S mod_php=%d php-fpm=%d\n", n["mod_php"], n["php-fpm"] }' "$tmp/all"
