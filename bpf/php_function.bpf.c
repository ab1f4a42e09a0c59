// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * php_function: counts php:function__entry by class and function name
 * (arguments 3 and 0; class is empty for plain functions). The probe only
 * fires with USE_ZEND_DTRACE=1 and costs a uprobe hit per userland call, so
 * this program is for the lab, not for production traffic.
 */
#include "lab_php.bpf.h"

#define NAME_LEN 64

struct function_key {
	char sapi[SAPI_LEN];
	char class_name[NAME_LEN];
	char function[NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct function_key);
	__type(value, __u64);
} php_function_calls_total SEC(".maps");

/* USDT args: (function_name, request_file, lineno, classname, scope). */
static __always_inline int on_function_entry(struct pt_regs *ctx, enum lab_sapi sapi)
{
	struct function_key key = {};

	lab_sapi_label(key.sapi, sapi);
	lab_usdt_str(ctx, 3, key.class_name, sizeof(key.class_name));
	lab_usdt_str(ctx, 0, key.function, sizeof(key.function));
	lab_map_add(&php_function_calls_total, &key, 1);
	return 0;
}

LAB_PHP_PROBE(function__entry, on_function_entry)

/* GPL-compatible: the probe_read helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
