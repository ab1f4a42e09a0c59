# deadcode --stop after --opcache-off: removes the extra ini dir @INI_DIR@, restarts
# @UNITS@ with their configuration, then removes the restart markers @MARKERS@ and the
# @DIR@/opcache-off flag.
rm -rf @INI_DIR@ && systemctl restart @UNITS@ && rm -f @MARKERS@ @DIR@/opcache-off
