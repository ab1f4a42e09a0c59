// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * php_exception: counts php:exception__thrown and php:exception__caught by
 * exception class name (argument 0 of both probes; see lab_usdt_class_name
 * for why the argument is decoded two ways). These probes fire without
 * USE_ZEND_DTRACE.
 */
#include "lab_php.bpf.h"

#define CLASS_LEN 128

struct exception_key {
	char sapi[SAPI_LEN];
	char class_name[CLASS_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exception_key);
	__type(value, __u64);
} php_exception_thrown_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exception_key);
	__type(value, __u64);
} php_exception_caught_total SEC(".maps");

static __always_inline void count_class(struct pt_regs *ctx, enum lab_sapi sapi, void *map)
{
	struct exception_key key = {};

	lab_sapi_label(key.sapi, sapi);
	lab_usdt_class_name(ctx, 0, key.class_name, sizeof(key.class_name));
	lab_map_add(map, &key, 1);
}

static __always_inline int on_thrown(struct pt_regs *ctx, enum lab_sapi sapi)
{
	count_class(ctx, sapi, &php_exception_thrown_total);
	return 0;
}

static __always_inline int on_caught(struct pt_regs *ctx, enum lab_sapi sapi)
{
	count_class(ctx, sapi, &php_exception_caught_total);
	return 0;
}

LAB_PHP_PROBE(exception__thrown, on_thrown)
LAB_PHP_PROBE(exception__caught, on_caught)

/* GPL-compatible: the probe_read helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
