# sample-app's verify, one round trip: for each URL of @URLS@ (paths on http://127.0.0.1),
# one line: the URL, a tab, the HTTP status, a tab, and the markers (@MARKERS@) found in
# the body, sorted and space-separated.
for u in @URLS@; do
  b=$(curl -s -m 20 -w '\n%{http_code}' "http://127.0.0.1$u")
  printf '%s\t%s\t' "$u" "$(printf '%s' "$b" | tail -n1)"
  printf '%s' "$b" | grep -o -E @MARKERS@ | sort -u | tr '\n' ' '; echo
done
