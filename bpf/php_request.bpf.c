// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * php_request: time from php:request__startup to php:request__shutdown per
 * thread, as an exp2 histogram in microseconds labelled by SAPI, URI path and
 * method. Differences from the workshop's php example: the start entry is
 * deleted once used, the histogram map is sized for real URI cardinality, and
 * observations that do not fit are counted in php_request_dropped_total
 * instead of vanishing silently.
 */
#include "lab_php.bpf.h"

#define URI_LEN 128
#define METHOD_LEN 8
/* 2^26 us is about 67 s; slower requests land in the last bucket. */
#define BUCKET_MAX 26
/* ~146 (sapi, uri, method) series of 28 keys (27 buckets + sum) each.
 * Overridable (EXTRA_BPF_CFLAGS=-DHIST_ENTRIES=8) so a test can fill it. */
#ifndef HIST_ENTRIES
#define HIST_ENTRIES 4096
#endif

struct request_key {
	char sapi[SAPI_LEN];
	char uri[URI_LEN];
	char method[METHOD_LEN];
	__u64 bucket;
};
_Static_assert(sizeof(struct request_key) == SAPI_LEN + URI_LEN + METHOD_LEN + 8, "no padding in key");

struct dropped_key {
	char sapi[SAPI_LEN];
};

struct start_key {
	__u64 pid_tgid;
	__u64 sapi;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HIST_ENTRIES);
	__type(key, struct request_key);
	__type(value, __u64);
} php_request_duration_seconds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, struct dropped_key);
	__type(value, __u64);
} php_request_dropped_total SEC(".maps");

/* LRU: a worker killed mid-request leaves an entry that must not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct start_key);
	__type(value, __u64);
} php_request_start SEC(".maps");

static __always_inline int on_request_startup(struct pt_regs *ctx, enum lab_sapi sapi)
{
	struct start_key sk = { .pid_tgid = bpf_get_current_pid_tgid(), .sapi = sapi };
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&php_request_start, &sk, &now, BPF_ANY);
	return 0;
}

static __always_inline void count_dropped(enum lab_sapi sapi)
{
	struct dropped_key dk = {};

	lab_sapi_label(dk.sapi, sapi);
	lab_map_add(&php_request_dropped_total, &dk, 1);
}

/* USDT args: (file, request_uri, request_method); the CLI passes "-" for both. */
static __always_inline int on_request_shutdown(struct pt_regs *ctx, enum lab_sapi sapi)
{
	struct start_key sk = { .pid_tgid = bpf_get_current_pid_tgid(), .sapi = sapi };
	struct request_key key = {};
	__u64 *start, micros;

	start = bpf_map_lookup_elem(&php_request_start, &sk);
	if (!start)
		return 0;
	micros = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&php_request_start, &sk);

	lab_sapi_label(key.sapi, sapi);
	/* Path only: the query string would explode the label's cardinality. */
	lab_usdt_str(ctx, 1, key.uri, sizeof(key.uri));
	lab_cut_at(key.uri, URI_LEN, '?');
	lab_usdt_str(ctx, 2, key.method, sizeof(key.method));

	key.bucket = lab_exp2_bucket(micros, BUCKET_MAX);
	if (lab_map_add(&php_request_duration_seconds, &key, 1)) {
		count_dropped(sapi);
		return 0;
	}
	key.bucket = BUCKET_MAX + 1;
	if (lab_map_add(&php_request_duration_seconds, &key, micros))
		count_dropped(sapi);
	return 0;
}

LAB_PHP_PROBE(request__startup, on_request_startup)
LAB_PHP_PROBE(request__shutdown, on_request_shutdown)

/* GPL-compatible: the probe_read helpers are GPL-only. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
