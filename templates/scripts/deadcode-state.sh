# deadcode's state on the host: `active` while the tracing unit @UNIT@ runs, `started
# <epoch>` once it attached, `opcache-off` while --opcache-off is in effect, and `opcache
# <opcache.enable of apache2's PHP configuration in @PHP_CONF@>`.
systemctl -q is-active @UNIT@ && echo active
cat @DIR@/started 2>/dev/null | sed 's/^/started /'
test -f @DIR@/opcache-off && echo opcache-off
echo "opcache $(cat @PHP_CONF@/apache2/conf.d/*.ini 2>/dev/null | sed -n 's/^opcache.enable *= *//p' | tail -1)"
