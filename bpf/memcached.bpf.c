// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * memcached: exp2 histogram of value sizes passed to libmemcached's
 *   memcached_return_t memcached_set(memcached_st *ptr, const char *key,
 *       size_t key_length, const char *value, size_t value_length,
 *       time_t expiration, uint32_t flags);
 * value_length is the 5th argument. The library path comes from make
 * (LIBMEMCACHED=/usr/lib/<multiarch>/libmemcached.so.11).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lab_maps.bpf.h"

#ifndef LIBMEMCACHED
#error "give make LIBMEMCACHED=/usr/lib/<multiarch>/libmemcached.so.11"
#endif

/* 2^24 bytes = 16 MiB; larger values land in the last bucket. */
#define BUCKET_MAX 24

struct size_key {
	__u64 bucket;
};

/* Buckets 0..BUCKET_MAX plus the sum key BUCKET_MAX + 1: every key fits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BUCKET_MAX + 2);
	__type(key, struct size_key);
	__type(value, __u64);
} memcached_set_value_bytes SEC(".maps");

SEC("uprobe/" LIBMEMCACHED ":memcached_set")
int on_memcached_set(struct pt_regs *ctx)
{
	__u64 bytes = PT_REGS_PARM5(ctx);
	struct size_key key = { .bucket = lab_exp2_bucket(bytes, BUCKET_MAX) };

	lab_map_add(&memcached_set_value_bytes, &key, 1);
	key.bucket = BUCKET_MAX + 1;
	lab_map_add(&memcached_set_value_bytes, &key, bytes);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
