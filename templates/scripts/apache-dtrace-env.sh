# USE_ZEND_DTRACE in the running apache2 master's environment (nothing when unset);
# @APACHE_PID@ is the main-pid script of apache2.service.
p=$(@APACHE_PID@); tr '\0' '\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^USE_ZEND_DTRACE=//p' | head -1
