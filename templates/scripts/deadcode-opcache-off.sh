# deadcode --start --opcache-off, before the restart: an extra PHP ini dir @INI_DIR@ that
# turns opcache off, restart markers @MARKERS@ (so the next `up` restores the configured
# state if this is cut) and the @DIR@/opcache-off flag.
mkdir -p @INI_DIR@ @PENDING_DIR@ &&
  printf '; ebpf-lab deadcode --opcache-off\nopcache.enable=0\n' > @INI_DIR@/zz-ebpf-lab-deadcode.ini &&
  touch @MARKERS@ @DIR@/opcache-off
