# bpf-programs' check: what the objects in @BPF_OUT@ were built from and what they are now,
# in three sections: `@stamp` then the record of the last finished build (@STAMP@: `inputs
# <key>`, `toolchain <compiler and BTF>`, `<name> <sha256>` per object); `@objects` then
# `<name> <sha256>` of each object on the host, `<name> missing` when absent or empty
# (@OBJECTS@: bpf-object-hashes.sh); `@toolchain` then the compiler and kernel BTF now (@TOOLCHAIN@).
echo @stamp
# The record line by line with the shell's read instead of cat: the same bytes (-r keeps
# backslashes, IFS= the blanks, and a last line without a newline is printed without one).
l=
while IFS= read -r l; do printf '%s\n' "$l"; done 2>/dev/null <@STAMP@
printf '%s' "$l"
echo @objects
@OBJECTS@
echo @toolchain
@TOOLCHAIN@
