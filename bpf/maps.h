/* The maps the XDP program shares with the control plane (pinned by name under the pin path by user space). */
#ifndef QS_MAPS_H
#define QS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "quicsteer.h"

/*
 * The VIP, server and peer tables are open-addressed arrays (see table.h), each held in slot 0 of a
 * one-slot ARRAY_OF_MAPS: user space fills a new array and swaps the pointer, so a packet sees the
 * old table or the new one, never a half-written entry, and the array lookups stay inlined.
 * The inner templates carry sizes, not BTF types: user space creates the arrays without BTF, and
 * kernels before 6.2 refuse an inner map whose BTF-derived fields (timer offset) differ from the
 * template's. The entry types reach BTF through table.h's anchors.
 */
struct qs_vip_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_VIP_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct qs_vip_entry));
};

struct qs_server_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_SERVER_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct qs_server_entry));
};

struct qs_peer_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_PEER_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct qs_peer_entry));
};

// VIP address:port -> how to read the server ID from its connection IDs.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct qs_vip_table);
} qs_vips SEC(".maps");

// Server ID -> the real server that owns it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct qs_server_table);
} qs_servers SEC(".maps");

// Source MACs of the real servers: a frame from one was steered already (loop guard).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct qs_peer_table);
} qs_peers SEC(".maps");

// Egress interfaces other than the ingress one, for bpf_redirect_map (keyed by ifindex).
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} qs_tx_ports SEC(".maps");

// This server's own settings; one entry so the control plane changes them without a reload.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_config);
} qs_config SEC(".maps");

// Per-reason packet/byte counters, per CPU so the fast path never contends.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QS_R_MAX);
	__type(key, __u32);   /* an enum qs_reason; array keys must be plain ints in BTF */
	__type(value, struct qs_counter);
} qs_stats SEC(".maps");

// Steered packets/bytes per owner, at the slot its server entry names (an array: no second lookup).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QS_MAX_SERVERS);
	__type(key, __u32);
	__type(value, struct qs_counter);
} qs_server_stats SEC(".maps");

#endif /* QS_MAPS_H */
