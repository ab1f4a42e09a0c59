/* SPDX-License-Identifier: MIT */
/*
 * lab_maps.bpf.h - map update and string helpers shared by the ebpf-lab programs.
 *
 * ebpf_exporter reads every metric map as <key struct> -> u64, so all helpers
 * here add to u64 values. Histograms use ebpf_exporter's exp2 convention:
 * bucket i counts values <= 2^i (bucket 0 also takes 0), the last bucket
 * catches everything larger, and key bucket_max + 1 holds the running sum.
 */
#ifndef LAB_MAPS_BPF_H
#define LAB_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

#define LAB_EEXIST 17
#define LAB_E2BIG 7

/*
 * Adds delta to map[key], creating the entry when missing.
 * Returns 0, or the insert error (-E2BIG when a HASH map is full) so that
 * callers can account for an observation that could not be stored.
 */
static __always_inline long lab_map_add(void *map, const void *key, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(map, key);
	long err;

	if (value) {
		__sync_fetch_and_add(value, delta);
		return 0;
	}
	err = bpf_map_update_elem(map, key, &delta, BPF_NOEXIST);
	if (err == -LAB_EEXIST) {
		/* Another CPU created it between our lookup and insert. */
		value = bpf_map_lookup_elem(map, key);
		if (value)
			__sync_fetch_and_add(value, delta);
		return 0;
	}
	return err;
}

/* Smallest i with value <= 2^i, capped at max (values 0 and 1 give 0). */
static __always_inline __u64 lab_exp2_bucket(__u64 value, __u64 max)
{
	__u64 bucket = 0;

	/* At most 64 doublings; the verifier sees a bounded loop. */
	for (int i = 0; i < 64; i++) {
		if (bucket >= max || ((__u64)1 << bucket) >= value)
			break;
		bucket++;
	}
	return bucket;
}

/*
 * String helpers for key fields that bpf_probe_read_user_str filled inside a
 * zeroed buffer (so every byte after the NUL is already 0). `size` must be a
 * compile-time constant. The loops walk constant indices and leave as soon as
 * they find what they look for: each exit path then has a known index, which
 * keeps the verifier's work roughly size^2/2 steps instead of exponential.
 */

/* Zeroes buf[from .. size-1]. */
static __always_inline void lab_zero_from(char *buf, int size, int from)
{
	/* volatile: stops clang from turning the loop into a memset call,
	 * which the BPF backend cannot emit for a run-time length. */
	for (int i = from; i < size; i++)
		((volatile char *)buf)[i] = 0;
}

/* Cuts the string at the first `stop` character ('?' for a URI's query). */
static __always_inline void lab_cut_at(char *buf, int size, char stop)
{
	for (int i = 0; i < size; i++) {
		if (buf[i] == 0)
			return;
		if (buf[i] == stop) {
			lab_zero_from(buf, size, i);
			return;
		}
	}
}

/*
 * Turns a path into its directory: "/a/b/c.php" -> "/a/b", "/x.php" -> "/",
 * "x.php" -> "" (PHP passes absolute translated paths). Scans from the end:
 * bytes after the NUL are 0, so the first '/' met is the path's last one.
 */
static __always_inline void lab_dirname(char *buf, int size)
{
	for (int i = size - 1; i >= 0; i--) {
		if (buf[i] == '/') {
			lab_zero_from(buf, size, i == 0 ? 1 : i);
			return;
		}
	}
	lab_zero_from(buf, size, 0);
}

#endif /* LAB_MAPS_BPF_H */
