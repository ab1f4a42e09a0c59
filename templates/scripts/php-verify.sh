# php's verify: waits for memcached to listen (@WAIT_MEMCACHED@: it is Type=simple, so
# started is not yet listening, and the sample pages use it next), then prints the
# activity of apache2, @FPM_UNIT@ and memcached on one line, `socket` when php-fpm's
# socket @SOCKET@ exists, and the HTTP status of apache2's http://127.0.0.1/.
@WAIT_MEMCACHED@
systemctl is-active apache2 @FPM_UNIT@ memcached | tr '\n' ' '; echo
test -S @SOCKET@ && echo socket
curl -s -m 10 -o /dev/null -w '%{http_code}' http://127.0.0.1/
