# bpf-programs' check: what the objects in @BPF_OUT@ were built from and what they are now,
# in three sections: `@stamp` then the record of the last finished build (@STAMP@: `inputs
# <key>`, `toolchain <compiler and BTF>`, `<name> <sha256>` per object); `@objects` then
# `<name> <sha256>` of each object on the host, `<name> missing` when absent or empty
# (@OBJECTS@: bpf-object-hashes.sh); `@toolchain` then the compiler and kernel BTF now (@TOOLCHAIN@).
echo @stamp
cat @STAMP@ 2>/dev/null
echo @objects
@OBJECTS@
echo @toolchain
@TOOLCHAIN@
