# The end of a bench: no attach unit @ATTACH_UNIT@, no runtime drop-in @DROPIN@, @UNITS@
# restarted with their configured environment, then @EXPORTER@(the exporter as it was)
# and the restart markers @MARKERS@ removed. Prints `CONF <USE_ZEND_DTRACE configured for
# apache2>` and `RUN <USE_ZEND_DTRACE of the running apache2>` (@APACHE_ENV@).
trap '' HUP INT TERM
systemctl stop @ATTACH_UNIT@ 2>/dev/null
rm -f /run/systemd/system/*.service.d/@DROPIN@; rmdir /run/systemd/system/*.service.d 2>/dev/null
systemctl daemon-reload
systemctl restart @UNITS@ && @EXPORTER@rm -f @MARKERS@
echo "CONF $(systemctl show -p Environment --value apache2.service | tr ' ' '\n' | sed -n 's/^USE_ZEND_DTRACE=//p')"
sleep 0.5; echo "RUN $(@APACHE_ENV@)"
