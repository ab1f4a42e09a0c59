/* SPDX-License-Identifier: MIT */
/*
 * lab_php.bpf.h - one BPF program per PHP SAPI target for each USDT probe.
 *
 * The probe targets are not hard-coded: the Makefile passes them as string
 * macros built from facts about the host,
 *   LIBPHP   mod_php library, e.g. "/usr/lib/apache2/modules/libphp8.2.so"
 *   PHP_FPM  php-fpm binary,  e.g. "/usr/sbin/php-fpm8.2"
 * Either may be left out (no program is emitted for it); at least one is needed.
 * Each handler gets the SAPI as a label string so that both targets feed the
 * same metric maps with `sapi` = "apache" or "fpm".
 */
#ifndef LAB_PHP_BPF_H
#define LAB_PHP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lab_usdt.bpf.h"
#include "lab_maps.bpf.h"

#if !defined(LIBPHP) && !defined(PHP_FPM)
#error "give make LIBPHP=<mod_php .so> and/or PHP_FPM=<php-fpm binary>"
#endif

/* Size of the `sapi` label (string decoder): "apache" + NUL fits. */
#define SAPI_LEN 8

enum lab_sapi { LAB_SAPI_APACHE = 0, LAB_SAPI_FPM = 1 };

/* Writes the label text for a SAPI into an 8-byte, zero-filled field. */
static __always_inline void lab_sapi_label(char dst[SAPI_LEN], enum lab_sapi sapi)
{
	if (sapi == LAB_SAPI_APACHE) {
		dst[0] = 'a'; dst[1] = 'p'; dst[2] = 'a'; dst[3] = 'c'; dst[4] = 'h'; dst[5] = 'e';
	} else {
		dst[0] = 'f'; dst[1] = 'p'; dst[2] = 'm';
	}
}

/*
 * Reads USDT argument n as a user-space C string into a zeroed buffer.
 * Returns the bytes copied including the NUL, or 0 (NULL pointer, e.g. the
 * CLI's request URI, or a failed read).
 */
static __always_inline long lab_usdt_str(struct pt_regs *ctx, __u32 n, char *dst, __u32 size)
{
	__u64 ptr = 0;
	long len;

	if (lab_usdt_arg(ctx, n, &ptr) != 0 || !ptr)
		return 0;
	len = bpf_probe_read_user_str(dst, size, (const void *)ptr);
	return len > 0 ? len : 0;
}

/* zend_string on 64-bit PHP 7+: refcount u32, type_info u32, hash u64, len u64, text. */
#define LAB_ZSTR_LEN_OFF 16
#define LAB_ZSTR_TEXT_OFF 24

/*
 * Reads a class-name USDT argument. PHP passes ZSTR_VAL(ce->name) (a char *),
 * but on Debian 12's php8.2 the note of exception__caught ("8@8(%rax)")
 * yields the zend_string pointer itself, 24 bytes short of the text
 * (bpftrace shows the same bytes). So: if the argument looks like a
 * zend_string whose len field matches the length of the text after the
 * header, use that text; otherwise read it as a plain C string.
 */
static __always_inline void lab_usdt_class_name(struct pt_regs *ctx, __u32 n, char *dst, int size)
{
	__u64 ptr = 0, zlen = 0;
	long got;

	if (lab_usdt_arg(ctx, n, &ptr) != 0 || !ptr)
		return;
	if (bpf_probe_read_user(&zlen, sizeof(zlen), (const void *)(ptr + LAB_ZSTR_LEN_OFF)) == 0 && zlen > 0) {
		got = bpf_probe_read_user_str(dst, size, (const void *)(ptr + LAB_ZSTR_TEXT_OFF));
		if (got > 0 && (__u64)got == (zlen + 1 < (__u64)size ? zlen + 1 : (__u64)size))
			return;
		lab_zero_from(dst, size, 0);
	}
	bpf_probe_read_user_str(dst, size, (const void *)ptr);
}

#ifdef LIBPHP
#define LAB_PHP_APACHE_PROG(probe, handler)                                     \
	SEC("usdt/" LIBPHP ":php:" #probe)                                      \
	int handler##_apache(struct pt_regs *ctx) { return handler(ctx, LAB_SAPI_APACHE); }
#else
#define LAB_PHP_APACHE_PROG(probe, handler)
#endif

#ifdef PHP_FPM
#define LAB_PHP_FPM_PROG(probe, handler)                                        \
	SEC("usdt/" PHP_FPM ":php:" #probe)                                     \
	int handler##_fpm(struct pt_regs *ctx) { return handler(ctx, LAB_SAPI_FPM); }
#else
#define LAB_PHP_FPM_PROG(probe, handler)
#endif

/* Emits the per-SAPI programs for `probe`, all calling handler(ctx, sapi). */
#define LAB_PHP_PROBE(probe, handler)                                           \
	LAB_PHP_APACHE_PROG(probe, handler)                                     \
	LAB_PHP_FPM_PROG(probe, handler)

#endif /* LAB_PHP_BPF_H */
