# bpf-programs' build: removes the build record @STAMP@ first, rebuilds every object in
# @BPF_SRC@ (make -B, whatever the mtimes say) with the make variables @VARS@, and only then
# writes the record: the inputs' key @KEY@, the compiler and kernel BTF (@TOOLCHAIN@) and the
# sha256 of each object (@OBJECTS@). A build that did not finish leaves no record.
set -e
rm -f @STAMP@
make -B -C @BPF_SRC@ @VARS@ -j"$(nproc)" all
{
  printf 'inputs %s\n' @KEY@
  printf 'toolchain %s\n' "$(@TOOLCHAIN@)"
  @OBJECTS@
} > @STAMP@.tmp
mv -f @STAMP@.tmp @STAMP@
