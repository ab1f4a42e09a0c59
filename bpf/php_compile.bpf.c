// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * php_compile: counts php:compile__file__entry per directory of the compiled
 * file (the translated path, argument 1). Only fires with USE_ZEND_DTRACE=1,
 * and with opcache on only for cache misses.
 */
#include "lab_php.bpf.h"

#define DIR_LEN 256

struct compile_key {
	char sapi[SAPI_LEN];
	char dir[DIR_LEN];
};

/* LRU: a docroot with more directories than this recycles the coldest ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct compile_key);
	__type(value, __u64);
} php_compile_file_total SEC(".maps");

/* USDT args: (compile_file, compile_file_translated). */
static __always_inline int on_compile_file(struct pt_regs *ctx, enum lab_sapi sapi)
{
	struct compile_key key = {};

	lab_sapi_label(key.sapi, sapi);
	lab_usdt_str(ctx, 1, key.dir, sizeof(key.dir));
	lab_dirname(key.dir, DIR_LEN);
	lab_map_add(&php_compile_file_total, &key, 1);
	return 0;
}

LAB_PHP_PROBE(compile__file__entry, on_compile_file)

/* GPL-compatible: the probe_read helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
