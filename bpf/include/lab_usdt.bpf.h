/* SPDX-License-Identifier: MIT */
/*
 * lab_usdt.bpf.h - BPF-side USDT argument access for the ebpf-lab programs.
 *
 * Why this exists: Ubuntu 22.04 ships libbpf-dev 0.5, which has no usdt.bpf.h,
 * yet the loader that attaches our programs (ebpf_exporter's bundled libbpf
 * 1.4/1.5, or Debian 12's libbpf 1.1 in our tests) implements USDT attach in
 * user space. That user-space half fills two maps that it finds BY NAME in
 * the object and expects a fixed value layout in them. This header declares
 * those two maps with that layout and reads arguments from them; it depends
 * only on bpf_helpers.h / bpf_tracing.h, which libbpf 0.5 already has.
 *
 * The contract (unchanged from libbpf 0.8, where USDT support appeared, through
 * at least 1.5; see README.md "USDT without usdt.bpf.h" for how it was checked
 * and for the newer layout this header does NOT understand):
 *  - map "__bpf_usdt_specs": ARRAY, key int (spec id), value = struct below
 *    (208 bytes: 12 argument slots of 16 bytes, the user's u64 USDT cookie,
 *    a 16-bit argument count, tail padding);
 *  - map "__bpf_usdt_ip_to_spec_id": HASH, key long (absolute IP), value u32,
 *    only filled when the kernel has no BPF cookie support;
 *  - with BPF cookies the loader sets each uprobe's cookie to the spec id;
 *  - the extern kconfig LINUX_HAS_BPF_COOKIE tells which of the two applies.
 * Argument slot: u64 value/offset, 4-byte location kind (0 constant,
 * 1 register, 2 memory at register + offset), s16 offset of the register
 * inside struct pt_regs, u8 signedness, u8 number of bits to shift out to
 * narrow 1/2/4-byte arguments.
 */
#ifndef LAB_USDT_BPF_H
#define LAB_USDT_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define LAB_USDT_ARG_SLOTS 12
#define LAB_USDT_SPEC_ENTRIES 256
#define LAB_USDT_IP_ENTRIES 1024

#define LAB_USDT_LOC_CONST 0
#define LAB_USDT_LOC_REG 1
#define LAB_USDT_LOC_REG_DEREF 2

struct lab_usdt_arg_loc {
	__u64 value_or_offset;
	__u32 kind;
	__s16 pt_regs_offset;
	__u8 is_signed;
	__u8 narrow_shift;
};

struct lab_usdt_spec {
	struct lab_usdt_arg_loc args[LAB_USDT_ARG_SLOTS];
	__u64 user_cookie;
	__s16 arg_count;
	__u8 tail_padding[6];
};

_Static_assert(sizeof(struct lab_usdt_arg_loc) == 16, "USDT argument slot must be 16 bytes");
_Static_assert(sizeof(struct lab_usdt_spec) == 208, "USDT spec must be 208 bytes");

/* Names are fixed by the loader's lookup; sizes are the loader's defaults. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LAB_USDT_SPEC_ENTRIES);
	__type(key, int);
	__type(value, struct lab_usdt_spec);
} __bpf_usdt_specs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LAB_USDT_IP_ENTRIES);
	__type(key, long);
	__type(value, __u32);
} __bpf_usdt_ip_to_spec_id SEC(".maps");

/* Resolved by libbpf at load time from a kernel feature probe. */
extern const _Bool LINUX_HAS_BPF_COOKIE __kconfig;

/* Helper 174 (bpf_get_attach_cookie), declared here rather than relying on the helper header's version. */
static __u64 (*const lab_attach_cookie)(void *ctx) = (void *)174;

#define LAB_ENOENT 2
#define LAB_EINVAL 22
#define LAB_ESRCH 3

/* Finds the argument spec the loader prepared for the probe site that fired. */
static __always_inline struct lab_usdt_spec *lab_usdt_spec_of(struct pt_regs *ctx)
{
	int id;

	if (LINUX_HAS_BPF_COOKIE) {
		id = (int)lab_attach_cookie(ctx);
	} else {
		long ip = PT_REGS_IP(ctx);
		__u32 *found = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);

		if (!found)
			return 0;
		id = (int)*found;
	}
	return bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
}

/*
 * Stores USDT argument number `n` (0-based) of the firing probe in *out.
 * Returns 0, -ENOENT when the probe has fewer arguments, -ESRCH when no spec
 * is known, -EINVAL for a location kind this header does not understand, or
 * the error of the failed memory read.
 */
static __always_inline long lab_usdt_arg(struct pt_regs *ctx, __u32 n, __u64 *out)
{
	struct lab_usdt_spec *spec = lab_usdt_spec_of(ctx);
	struct lab_usdt_arg_loc *loc;
	__u64 raw = 0;
	long err;

	*out = 0;
	if (!spec)
		return -LAB_ESRCH;
	if (n >= LAB_USDT_ARG_SLOTS || n >= (__u32)spec->arg_count)
		return -LAB_ENOENT;
	loc = &spec->args[n];

	if (loc->kind == LAB_USDT_LOC_CONST) {
		raw = loc->value_or_offset;
	} else if (loc->kind == LAB_USDT_LOC_REG || loc->kind == LAB_USDT_LOC_REG_DEREF) {
		/* ctx is kernel memory; the register offset is only known at run time,
		 * so a helper read is needed instead of a direct ctx access. */
		err = bpf_probe_read_kernel(&raw, sizeof(raw), (void *)ctx + loc->pt_regs_offset);
		if (err)
			return err;
		if (loc->kind == LAB_USDT_LOC_REG_DEREF) {
			err = bpf_probe_read_user(&raw, sizeof(raw), (void *)(raw + loc->value_or_offset));
			if (err)
				return err;
		}
	} else {
		return -LAB_EINVAL;
	}

	/* Narrow 1/2/4-byte arguments: push the wanted bytes to the top, then bring
	 * them back down with or without sign extension. */
	raw <<= loc->narrow_shift;
	if (loc->is_signed)
		raw = (__u64)((__s64)raw >> loc->narrow_shift);
	else
		raw >>= loc->narrow_shift;
	*out = raw;
	return 0;
}

#endif /* LAB_USDT_BPF_H */
