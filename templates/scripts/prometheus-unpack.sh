# prometheus' apply (release): unpacks the uploaded tarball @TARBALL@ into @DIR@ (through a
# temp dir next to it, so a cut run never leaves half a release there), records its sha256
# @SHA256@ in @DIR@/.tarball-sha256, creates the storage directory, removes the tarball.
set -e
t=$(mktemp -d @DIR@.XXXX)
tar -xzf @TARBALL@ -C "$t" --strip-components=1
echo @SHA256@ > "$t/.tarball-sha256"
rm -rf @DIR@; mv "$t" @DIR@; chmod 755 @DIR@
install -d -o prometheus -g prometheus /var/lib/prometheus/metrics2
rm -f @TARBALL@
