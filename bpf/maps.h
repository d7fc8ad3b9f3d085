/* The maps the XDP program shares with the control plane (pinned by name under the pin path by user space). */
#ifndef QS_MAPS_H
#define QS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "quicsteer.h"

/*
 * Every table exists twice, as two halves of one plain ARRAY (generation g holds indexes
 * [g * SLOTS, (g + 1) * SLOTS)), and qs_config holds one entry per generation. User space writes
 * a whole configuration into the generation that is not live, then flips qs_live's one word: a
 * packet reads that word once and looks everything up in one generation, so it sees the old
 * configuration or the new one, never a mix, and a writer killed midway changed nothing live.
 * Plain array lookups are inlined by the verifier (no helper call, unlike ARRAY_OF_MAPS inners).
 */

// VIP address:port -> how to read the server ID from its connection IDs.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_VIP_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_vip_entry);
} qs_vips SEC(".maps");

// Server ID -> the real server that owns it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_SERVER_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_server_entry);
} qs_servers SEC(".maps");

// Source MACs of the real servers: a frame from one was steered already (loop guard).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_PEER_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_peer_entry);
} qs_peers SEC(".maps");

// QUIC-LB keys, expanded, by slot (a config names its slot): one half per generation, like the tables.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_MAX_KEYS);
	__type(key, __u32);
	__type(value, struct qs_lb_key);
} qs_keys SEC(".maps");

// Encrypted CID -> server ID, per CPU (no contention, no locks): a connection's later packets skip AES.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QS_LB_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_lb_cache_entry);
} qs_lb_cache SEC(".maps");

// Encrypted CIDs decrypted (a cache miss, or every one in a build without the cache), per CPU:
// the AES work done, so cache hits = encrypted CIDs decoded - this.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} qs_lb_decrypts SEC(".maps");

// The live generation's index (the one word a change flips), and each generation's local ID and
// loop-guard prefilter beside it: one lookup per packet finds all three.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_live);
} qs_live SEC(".maps");

// Never read by the program: user space updates its slot to wait for an RCU grace period (the
// kernel waits for running programs after a map-in-map update) before it rewrites the generation
// that was live until the last flip, so no packet still reading it sees a half-written table.
struct qs_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct qs_sync_inner);
} qs_sync SEC(".maps");

#ifndef QS_NO_GQUIC   /* the upgrade test's build from before gQUIC */
// The gQUIC owner table (Maglev, built by user space from the up servers): one half per generation
// like the tables, QS_GQUIC_RING server IDs each (len 0: no owner). Written only into generations
// that have a gQUIC VIP: no other generation reads it.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS * QS_GQUIC_RING);
	__type(key, __u32);
	__type(value, struct qs_server_id);
} qs_gquic_ring SEC(".maps");

// gQUIC packets per form and reason (beside qs_stats, which counts every packet once by reason).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QS_GQ_FORMS * QS_GQUIC_REASON_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_counter);
} qs_gquic_stats SEC(".maps");
#endif

// Egress interfaces other than the ingress one, for bpf_redirect_map (keyed by ifindex).
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} qs_tx_ports SEC(".maps");

// This server's own settings, one entry per generation: its number and state are user space's
// (the data path reads the local ID from qs_live).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_GENERATIONS);
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
