# php's verify: waits for memcached to listen (@WAIT_MEMCACHED@: it is Type=simple, so
# started is not yet listening, and the sample pages use it next), then prints the
# activity of apache2, @FPM_UNIT@ and memcached on one line, `socket` when php-fpm's
# socket @SOCKET@ exists, and the HTTP status apache2 answers for @ABSENT@, a page no step
# writes (404 when apache serves). Not `/`: that is sample-app's index.php, a later step's
# file (a drifted one, mode 600 say, answers 500 until sample-app repairs it); sample-app's
# verify checks its pages through both SAPIs.
@WAIT_MEMCACHED@
systemctl is-active apache2 @FPM_UNIT@ memcached | tr '\n' ' '; echo
test -S @SOCKET@ && echo socket
curl -s -m 10 -o /dev/null -w '%{http_code}' http://127.0.0.1@ABSENT@
