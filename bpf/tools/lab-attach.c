// SPDX-License-Identifier: MIT
/*
 * lab-attach: a TEST STAND-IN for ebpf_exporter, not part of the lab.
 *
 * It does the part of ebpf_exporter's job that our BPF objects depend on:
 * open each <name>.bpf.o, load it, auto-attach every program from its
 * section name (usdt/..., uprobe/...) through the system libbpf, and read
 * the u64-valued maps back. The integration test drives it over stdin:
 *
 *   lab-attach [--strict] a.bpf.o b.bpf.o ...
 *   stdout line 1: {"programs":[{"object":..,"program":..,"attached":true|false,"error":..}]}
 *   stdin "dump" -> one line {"maps":[{"object":..,"name":..,"key_size":N,"max_entries":N,
 *                            "entries":[{"key":"<hex>","value":N}]}]}
 *   stdin EOF or "quit" -> detach everything, exit 0.
 *
 * --strict exits 3 right after attaching when any program failed, like
 * ebpf_exporter --config.strict. Build: make -C bpf loader (gcc, libbpf-dev >= 0.8).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MAX_OBJECTS 16
#define MAX_LINKS 256

static struct bpf_object *objects[MAX_OBJECTS];
static struct bpf_link *links[MAX_LINKS];
static int object_count, link_count;

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Warnings explain attach failures; debug chatter is not wanted. */
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const char *object_label(struct bpf_object *obj)
{
	return bpf_object__name(obj);
}

/* Dumps one map as JSON: every key as hex, every value as a u64. */
static void dump_map(struct bpf_object *obj, struct bpf_map *map)
{
	__u32 key_size = bpf_map__key_size(map);
	unsigned char *key = calloc(1, key_size), *next = calloc(1, key_size);
	int fd = bpf_map__fd(map), first = 1, have_key = 0;
	__u64 value;

	printf("{\"object\":");
	print_json_string(object_label(obj));
	printf(",\"name\":");
	print_json_string(bpf_map__name(map));
	printf(",\"key_size\":%u,\"max_entries\":%u,\"entries\":[", key_size, bpf_map__max_entries(map));
	while (key && next && bpf_map_get_next_key(fd, have_key ? key : NULL, next) == 0) {
		memcpy(key, next, key_size);
		have_key = 1;
		if (bpf_map_lookup_elem(fd, key, &value) != 0)
			continue; /* deleted between the two calls */
		printf("%s{\"key\":\"", first ? "" : ",");
		for (__u32 i = 0; i < key_size; i++)
			printf("%02x", key[i]);
		printf("\",\"value\":%llu}", (unsigned long long)value);
		first = 0;
	}
	printf("]}");
	free(key);
	free(next);
}

static void dump_all(void)
{
	int first = 1;

	printf("{\"maps\":[");
	for (int i = 0; i < object_count; i++) {
		struct bpf_map *map;

		bpf_object__for_each_map(map, objects[i]) {
			/* Same rule as ebpf_exporter: metric maps hold u64 values. Skip
			 * .rodata/.kconfig and libbpf's own USDT bookkeeping maps. */
			if (bpf_map__is_internal(map) || bpf_map__value_size(map) != 8 ||
			    strncmp(bpf_map__name(map), "__", 2) == 0)
				continue;
			if (!first)
				putchar(',');
			dump_map(objects[i], map);
			first = 0;
		}
	}
	printf("]}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int strict = 0, failed = 0, first = 1;
	char line[64];

	libbpf_set_print(quiet_libbpf);
	printf("{\"programs\":[");
	for (int a = 1; a < argc; a++) {
		struct bpf_program *prog;
		struct bpf_object *obj;

		if (strcmp(argv[a], "--strict") == 0) {
			strict = 1;
			continue;
		}
		if (object_count == MAX_OBJECTS) {
			fprintf(stderr, "lab-attach: too many objects\n");
			return 2;
		}
		obj = bpf_object__open_file(argv[a], NULL);
		if (!obj || libbpf_get_error(obj)) {
			fprintf(stderr, "lab-attach: cannot open %s\n", argv[a]);
			return 2;
		}
		if (bpf_object__load(obj)) {
			fprintf(stderr, "lab-attach: cannot load %s: %s\n", argv[a], strerror(errno));
			return 2;
		}
		objects[object_count++] = obj;
		bpf_object__for_each_program(prog, obj) {
			struct bpf_link *link = bpf_program__attach(prog);
			long err = libbpf_get_error(link);

			printf("%s{\"object\":", first ? "" : ",");
			print_json_string(object_label(obj));
			printf(",\"program\":");
			print_json_string(bpf_program__name(prog));
			first = 0;
			if (!link || err) {
				failed++;
				printf(",\"attached\":false,\"error\":");
				print_json_string(strerror(link ? (int)-err : errno));
				printf("}");
				continue;
			}
			printf(",\"attached\":true}");
			if (link_count < MAX_LINKS)
				links[link_count++] = link;
		}
	}
	printf("]}\n");
	fflush(stdout);
	if (strict && failed)
		return 3;

	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "dump", 4) == 0)
			dump_all();
		else if (strncmp(line, "quit", 4) == 0)
			break;
	}
	for (int i = 0; i < link_count; i++)
		bpf_link__destroy(links[i]);
	for (int i = 0; i < object_count; i++)
		bpf_object__close(objects[i]);
	return 0;
}
