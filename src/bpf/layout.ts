// TS mirror of bpf/quicsteer.h (and the kernel's xdp_md): checked against the object's BTF by test/unit/layout.test.ts.
import { array, be16, bytes, s32, struct, u32, u64, u8, type ValueOf } from './codec.js';

/** Longest server ID (QS_MAX_SID_LEN). */
export const MAX_SID_LEN = 15;
/** Longest connection ID QUIC v1/v2 allow (QS_MAX_CID_LEN). */
export const MAX_CID_LEN = 20;
/** Slots of the open-addressed tables and the probe bound (QS_*_SLOTS, QS_PROBES); capacity is a quarter. */
export const VIP_SLOTS = 4096;
export const SERVER_SLOTS = 65536;
export const PEER_SLOTS = 65536;
export const PROBES = 8;
/** Generations of every table (QS_GENERATIONS): one live, one written. */
export const GENERATIONS = 2;
/** enum qs_gen_state */
export const GenState = { EMPTY: 0, WRITING: 1, COMPLETE: 2 } as const;
/** Per-owner counter slots (QS_MAX_SERVERS). */
export const MAX_SERVERS = SERVER_SLOTS / 4;
/** qs_hash() constants (QS_HASH_A0..A4, QS_HASH_B). */
export const HASH_A = [0x736a5236b1b3f21dn, 0x84c546e7464c9effn, 0x6e9c83fcde518865n, 0xd8eaa0713b69ae0dn, 0xa05b4878b46e466fn] as const;
export const HASH_B = 0xde5f3ccf27497f49n;
/** QUIC-LB config flags (QS_LB_F_*). */
export const LbFlags = { ENABLED: 0x1, ENCRYPTED: 0x2 } as const;
/** QUIC-LB configs selectable by the first octet's rotation bits (QS_QUIC_LB_CONFIGS). */
export const QUIC_LB_CONFIGS = 7;
/** QUIC-LB key length (QS_LB_KEY_LEN: AES-128) and the encrypted octets' bounds (QS_LB_MIN_PLAIN, QS_LB_MAX_PLAIN). */
export const LB_KEY_LEN = 16;
export const LB_MIN_PLAIN = 5;
export const LB_MAX_PLAIN = 19;
/** Distinct QUIC-LB keys per generation (QS_MAX_KEYS). */
export const MAX_KEYS = 256;
/** Slots of the per-CPU decrypt-once cache (QS_LB_CACHE_SLOTS). */
export const LB_CACHE_SLOTS = 4096;

/**
 * gQUIC (Q043, Q046, Q050) on a VIP: QS_VIP_F_GQUIC, a flag in qs_vip.cid_format beside the IETF
 * layout (CID_FORMAT_MASK), so the VIP table keeps its layout. Owners come from a Maglev table of
 * GQUIC_RING entries per generation (qs_gquic_ring), indexed by qs_hash(the 8-byte client CID) % GQUIC_RING.
 */
export const VIP_F_GQUIC = 0x80;
export const CID_FORMAT_MASK = 0x7f;
export const GQUIC_RING = 65537;
export const GQUIC_CID_LEN = 8;
/** gQUIC version labels (big-endian on the wire): 'Q043', 'Q046', 'Q050'. */
export const GquicVersion = { Q043: 0x51303433, Q046: 0x51303436, Q050: 0x51303530 } as const;
/** enum qs_gquic_form, in counter order: a Q043 public header, Q046/Q050 long headers, and short headers (Q046/Q050 alike: no version on the wire). */
export const GquicForms = ['Q043', 'Q046', 'Q050', 'SHORT'] as const;
export type GquicFormName = (typeof GquicForms)[number];
/** qs_gquic_stats: counter index = form * GQUIC_REASON_SLOTS + reason (room for reasons added later). */
export const GQUIC_REASON_SLOTS = 32;

/** enum qs_family */
export const Family = { IPV4: 4, IPV6: 6 } as const;
/** enum qs_cid_format */
export const CidFormat = { NONE: 0, QUIC_LB: 1, FIXED: 2, MVFST: 3 } as const;
/** enum qs_server_state */
export const ServerState = { UP: 0, DOWN: 1, DRAIN: 2 } as const;

/** enum qs_reason, in counter-index order; names are the C names without the QS_R_ prefix. */
export const Reasons = [
  'NOT_VIP',
  'MALFORMED',
  'FRAGMENT',
  'IPV6_EXT',
  'NOT_QUIC',
  'VERSION_NEGOTIATION',
  'UNKNOWN_VERSION',
  'INITIAL',
  'ZERO_RTT',
  'RETRY',
  'UNROUTABLE_CID',
  'LOCAL',
  'UNKNOWN_SERVER',
  'PEER_DOWN',
  'PEER_DRAIN',
  'LOOP_GUARD',
  'NO_EGRESS',
  'STEERED',
] as const;
export type ReasonName = (typeof Reasons)[number];
export const Reason = Object.fromEntries(Reasons.map((r, i) => [r, i])) as { readonly [K in ReasonName]: number };
/** QS_R_MAX: number of reason counters. */
export const REASON_MAX = Reasons.length;

export const VipKey = struct('qs_vip_key', { addr: bytes(16), port: be16, family: u8, pad: u8 });
export const QuicLbConf = struct('qs_quic_lb_conf', { sid_len: u8, nonce_len: u8, flags: u8, pad: u8, key_slot: u32, key: bytes(LB_KEY_LEN) });
export const LbKey = struct('qs_lb_key', { enc: array(u32, 44), dec: array(u32, 44) });
export const Vip = struct('qs_vip', {
  cid_format: u8,
  dcid_len: u8,
  sid_offset: u8,
  sid_len: u8,
  quic_lb: array(QuicLbConf, QUIC_LB_CONFIGS),
});
export const ServerId = struct('qs_server_id', { len: u8, id: bytes(MAX_SID_LEN) });
export const Server = struct('qs_server', {
  mac: bytes(6),
  src_mac: bytes(6),
  state: u8,
  pad: bytes(3),
  ifindex: u32,
  slot: u32,
});
export const MacKey = struct('qs_mac_key', { mac: bytes(6), pad: bytes(2) });
export const Config = struct('qs_config', { local_id: ServerId, seq: u64, state: u32, pad: u32 });
/** The loop guard's prefilter (QS_PEER_FILTER_BITS): bits per generation, 64 to a word. */
export const PEER_FILTER_BITS = 256;
export const PEER_FILTER_WORDS = PEER_FILTER_BITS / 64;
export const Live = struct('qs_live', {
  gen: u32,
  pad: u32,
  local_id: array(ServerId, GENERATIONS),
  peer_filter: array(u64, GENERATIONS * PEER_FILTER_WORDS),
  epoch: array(u64, GENERATIONS),
});
export const LbCacheEntry = struct('qs_lb_cache_entry', { epoch: u64, ct: array(u64, 3), tag: u32, pad: u32, sid: ServerId });
export const VipEntry = struct('qs_vip_entry', { key: VipKey, used: u32, vip: Vip });
export const ServerEntry = struct('qs_server_entry', { key: ServerId, used: u32, server: Server });
export const PeerEntry = struct('qs_peer_entry', { key: MacKey, used: u32 });
export const Counter = struct('qs_counter', { packets: u64, bytes: u64 });

/** The kfunc AES object's syscall program argument (bpf/aes_kfunc.h: struct qs_crypto_args, enum qs_crypto_op). */
export const CryptoOp = { SET: 1, CLEAR: 2 } as const;
export const CryptoArgs = struct('qs_crypto_args', { index: u32, op: u32, key: bytes(LB_KEY_LEN), err: s32 });

/** The kernel's struct xdp_md: the ctx of an XDP test run (ingress_ifindex for live frames). */
export const XdpMd = struct('xdp_md', {
  data: u32,
  data_end: u32,
  data_meta: u32,
  ingress_ifindex: u32,
  rx_queue_index: u32,
  egress_ifindex: u32,
});

export type VipKeyT = ValueOf<typeof VipKey>;
export type VipT = ValueOf<typeof Vip>;
export type ServerIdT = ValueOf<typeof ServerId>;
export type ServerT = ValueOf<typeof Server>;
export type ConfigT = ValueOf<typeof Config>;
export type LiveT = ValueOf<typeof Live>;
export type MacKeyT = ValueOf<typeof MacKey>;
export type QuicLbConfT = ValueOf<typeof QuicLbConf>;
export type CounterT = ValueOf<typeof Counter>;
export type LbKeyT = ValueOf<typeof LbKey>;

/** Every struct shared with the BPF object, for the BTF layout check. */
export const SHARED_STRUCTS = [VipKey, QuicLbConf, LbKey, LbCacheEntry, Vip, ServerId, Server, MacKey, VipEntry, ServerEntry, PeerEntry, Config, Live, Counter, XdpMd] as const;
/** The structs only the kfunc AES object has (checked against its BTF). */
export const KFUNC_STRUCTS = [CryptoArgs] as const;
