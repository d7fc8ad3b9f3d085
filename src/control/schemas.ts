// zod schemas for every input: command-line values and the apply file. Errors become one clear line.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import { ipBytes } from '../datapath/tables.js';
import { MAX_SID_LEN } from '../bpf/layout.js';
import { RuntimeError, UsageError, fsErrorLine } from './errors.js';
import { parseSpec, redactSpec, type CidSpec, type SpecOptions } from './spec.js';
import { HEALTH } from './health-ranges.js';
import { msquicServerIdFixed, msquicServerIdIp } from '../quic/vendor.js';

const UINT32_FORM = /^(?:\d+|0x[0-9a-f]+)$/i;

/**
 * A server ID as its wire bytes in hex, from any form a user has it in: hex bytes as in the CID
 * (0a0b, 0x0a0b), or one of MsQuic's settings named by a prefix, so it cannot pass for hex bytes:
 * msquic-ip:<address> (SERVER_ID_IP) or msquic-fixed:<uint32> (SERVER_ID_FIXED, put on the wire little-endian).
 */
function serverIdBytes(s: string): string {
  const m = /^([a-z][a-z0-9-]*):(.*)$/is.exec(s);
  if (!m) {
    const h = s.toLowerCase().replace(/^0x/, '');
    if (/^([0-9a-f]{2})+$/.test(h) && h.length / 2 <= MAX_SID_LEN) return h;
    throw new Error(`server ID must be 1..${MAX_SID_LEN} bytes of hex as in the CID (e.g. 0a0b or 0x0a0b), msquic-ip:<address> or msquic-fixed:<uint32>`);
  }
  const form = m[1]!.toLowerCase();
  const v = m[2]!;
  if (form === 'msquic-ip') {
    if (net.isIP(v) === 0) throw new Error(`msquic-ip: '${v}' is not an IPv4 or IPv6 address (SERVER_ID_IP: the server's own address)`);
    return msquicServerIdIp(v).toString('hex');
  }
  if (form === 'msquic-fixed') {
    const n = UINT32_FORM.test(v) ? Number(v) : NaN;
    if (!(n <= 0xffffffff)) throw new Error(`msquic-fixed: '${v}' is not a uint32 (FixedServerID: 0..4294967295, decimal or 0x-hex)`);
    return msquicServerIdFixed(n).toString('hex');
  }
  throw new Error(`unknown server ID form '${form}:': give hex bytes as in the CID, msquic-ip:<address> or msquic-fixed:<uint32>`);
}

export const ServerIdHex = z.string().transform((s, ctx) => {
  try {
    return serverIdBytes(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** Bytes in hex (a QUIC-LB nonce): 1..19 of them. */
export const HexBytes = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^0x/, ''))
  .refine((s) => /^([0-9a-f]{2})+$/.test(s) && s.length / 2 <= 19, { message: 'expected 1..19 bytes of hex' });

/** Why a MAC cannot be a server's (steered frames go to it): null when it is unicast and not zero. */
export function macProblem(mac: string): string | null {
  const b = mac.split(/[:-]/).map((x) => parseInt(x, 16));
  if (b.every((x) => x === 0)) return "the all-zero MAC is no host's: give the server's own (unicast) MAC";
  if (b.every((x) => x === 0xff)) return "the broadcast MAC would flood steered packets to every port: give the server's own (unicast) MAC";
  if (b[0]! & 1) return "a multicast MAC (low bit of the first octet set) would flood steered packets: give the server's own (unicast) MAC";
  return null;
}

/** Refuses a MAC that is not a unicast, non-zero one (a UsageError naming `what`): for MACs from anywhere, e.g. the neighbour table. */
export function checkUnicastMac(mac: string, what: string): void {
  const p = macProblem(mac);
  if (p) throw new UsageError(`bad ${what} '${mac}': ${p}`);
}

export const Mac = z
  .string()
  .refine((s) => /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(s), { message: 'MAC must be six hex bytes like 02:00:00:00:00:01' })
  .transform((s) => s.toLowerCase().replace(/-/g, ':'))
  .superRefine((s, ctx) => {
    const p = typeof s === 'string' ? macProblem(s) : null;
    if (p) ctx.addIssue({ code: 'custom', message: p });
  });

export const IpAddress = z.string().refine((s) => net.isIP(s) !== 0, { message: 'not an IPv4 or IPv6 address' });

/** `ip:port` or `[ipv6]:port`. */
export const Endpoint = z.string().transform((s, ctx) => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || (m[0].startsWith('[') ? net.isIPv6(m[1]!) === false : net.isIPv4(m[1]!) === false)) {
    ctx.addIssue({ code: 'custom', message: 'expected <ipv4>:<port> or [<ipv6>]:<port>' });
    return z.NEVER;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'port must be 1..65535' });
    return z.NEVER;
  }
  return { ip: m[1]!, port };
});

/** The 16 bytes of an IPv6 address (net.isIPv6 already said it is one; a zone is ignored). */
const ipv6Bytes = (ip: string): Buffer => ipBytes(ip.replace(/%.*$/, '')).addr;

/** Why an address cannot be a VIP (packets to it are never one flow's): null when it is a unicast one. */
export function vipProblem(ip: string): string | null {
  if (net.isIPv4(ip)) {
    const first = Number(ip.split('.')[0]);
    if (ip === '0.0.0.0') return 'the unspecified address 0.0.0.0 is not a VIP';
    if (ip === '255.255.255.255') return 'the broadcast address 255.255.255.255 is not a VIP';
    if (first >= 224 && first <= 239) return `${ip} is multicast (224.0.0.0/4): a VIP must be unicast`;
    return null;
  }
  const b = ipv6Bytes(ip);
  if (b.every((x) => x === 0)) return 'the unspecified address :: is not a VIP';
  if (b[0] === 0xff) return `${ip} is multicast (ff00::/8): a VIP must be unicast`;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return `${ip} is IPv4-mapped: packets to it arrive as IPv4 and never match; write ${[...b.subarray(12)].join('.')}`;
  return null;
}

/** A VIP: an Endpoint whose address is unicast, not unspecified, and IPv4 written as IPv4. */
export const VipEndpoint = Endpoint.superRefine((ep, ctx) => {
  const p = typeof ep?.ip === 'string' ? vipProblem(ep.ip) : null;
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const specSchema = (o: SpecOptions) =>
  z.string().transform((s, ctx): CidSpec => {
    try {
      return parseSpec(s, o);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^bad CID spec '[^']*': /, '') });
      return z.NEVER;
    }
  });

/** A CID spec; an encrypted quic-lb config names its key as key-file=<path> (or - for stdin). */
export const Spec = specSchema({});
/** A CID spec that may carry its key inline (key=<hex>): `cid encode/decode` only. */
export const SpecInlineKey = specSchema({ inlineKey: true });

/** A QUIC-LB config rotation codepoint that names a config (7 is unroutable). */
export const ConfigRotation = z
  .string()
  .regex(/^[0-6]$/, 'a config rotation codepoint, 0..6')
  .transform(Number);

export const Mode = z.enum(['native', 'generic']);
export const Aes = z.enum(['auto', 'table', 'kfunc']);
export const State = z.enum(['up', 'down', 'drain']);
export const Ifname = z.string().regex(/^[^\s/:]{1,15}$/, 'not an interface name');

/** Parses one value; a failure is a UsageError naming the value and what was wrong with it. */
export function parse<T extends z.ZodTypeAny>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // a CID spec may hold a key inline: never echoed
  const shown = typeof value === 'string' && what === 'CID spec' ? redactSpec(value) : String(value);
  throw new UsageError(`bad ${what} '${shown}': ${r.error.issues[0]?.message ?? 'invalid'}`);
}

export { HEALTH };

const ranged = (k: keyof typeof HEALTH) => z.number().int().min(HEALTH[k].min).max(HEALTH[k].max).default(HEALTH[k].default);
const healthFields = {
  timeout: ranged('timeout'),
  interval: ranged('interval'),
  unhealthyThreshold: ranged('unhealthyThreshold'),
  healthyThreshold: ranged('healthyThreshold'),
};
const timeoutFits = (h: { timeout: number; interval: number }) => h.timeout <= h.interval;
const timeoutMessage = { message: 'timeout must not exceed interval' };

export const Health = z.object(healthFields).strict().refine(timeoutFits, timeoutMessage);
export type HealthT = z.output<typeof Health>;

/** A whole number on the command line, min..max; `what` names it in the error ("whole seconds, 2 to 60"). */
export const WholeNumber = (min: number, max: number, what = 'a whole number') =>
  z
    .string()
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, { message: `${what}, ${min} to ${max}` })
    .transform(Number);

/** A probe's timeout on the command line (quicsteer probe --timeout): the health checks' timeout range. */
export const ProbeTimeout = WholeNumber(HEALTH.timeout.min, HEALTH.timeout.max, 'whole seconds');

/** The agent's peer health in the apply file: the same ranges, and a switch (probes run for servers with a "probe" address). */
export const PeerHealth = z
  .object({ enabled: z.boolean().default(true), ...healthFields })
  .strict()
  .refine(timeoutFits, timeoutMessage);

/** The apply file: this server's whole quicsteer configuration. */
export const ConfigFile = z
  .object({
    localId: ServerIdHex,
    // absent: attachments stay as they are; [] detaches every interface (and the state goes with the last)
    interfaces: z.array(z.object({ name: Ifname, mode: Mode.default('native') }).strict()).optional(),
    // absent: attached interfaces keep their AES implementation, new ones get auto's
    aes: Aes.optional(),
    vips: z.array(z.object({ address: VipEndpoint, cid: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(Spec).nonempty()) }).strict()).default([]),
    servers: z
      .array(
        z
          .object({
            id: ServerIdHex,
            mac: Mac.optional(),
            ip: IpAddress.optional(),
            dev: Ifname.optional(),
            state: State.default('up'),
            // the agent's health probe goes to this server's QUIC port here (apply ignores it)
            probe: Endpoint.optional(),
          })
          .strict()
          .refine((s) => (s.mac === undefined) !== (s.ip === undefined), { message: 'give exactly one of mac and ip' }),
      )
      .default([]),
    // the agent's peer health (apply ignores it)
    health: PeerHealth.default({}),
  })
  .strict();

export type ConfigFileT = z.output<typeof ConfigFile>;

/** A zod error of the apply file as one line: where in the file, and what. */
export function formatFileError(file: string, e: z.ZodError): string {
  const i = e.issues[0]!;
  const at = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : '(top level)';
  return `${file}: ${at}: ${i.message}`;
}

/** Line and column (from 1) of a character offset. */
function lineCol(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/**
 * The first key an object of valid JSON text repeats (JSON.parse silently keeps the last one), with
 * the path of that object and where the repeat is; null when no object repeats a key.
 */
export function findDuplicateKey(text: string): { key: string; at: string; line: number; column: number } | null {
  type Frame = { obj: true; keys: Set<string>; key: string; path: string } | { obj: false; index: number; path: string };
  const stack: Frame[] = [];
  const childPath = (): string => {
    const f = stack.at(-1);
    if (!f) return '';
    return f.obj ? `${f.path}${/^[A-Za-z_$][\w$]*$/.test(f.key) ? `${f.path ? '.' : ''}${f.key}` : `[${JSON.stringify(f.key)}]`}` : `${f.path}[${f.index}]`;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      let k = j + 1;
      while (k < text.length && ' \t\r\n'.includes(text[k]!)) k++;
      if (top?.obj && text[k] === ':') {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, at: top.path || '(top level)', ...lineCol(text, i) };
        top.keys.add(key);
        top.key = key;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const p = childPath();
      stack.push(c === '{' ? { obj: true, keys: new Set(), key: '', path: p } : { obj: false, index: 0, path: p });
    } else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top && !top.obj) top.index++;
    }
  }
  return null;
}

// A JSON number or literal at a position (sticky: no copies of the text).
const JSON_ATOM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/** Offset of the first character that makes `t` not JSON (V8's messages do not always give one); -1 when it is JSON. */
export function jsonErrorAt(t: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < t.length && ' \t\r\n'.includes(t[i]!)) i++;
  };
  const str = () => {
    i++;
    while (i < t.length && t[i] !== '"') {
      if (t[i]! < ' ') fail();
      if (t[i] === '\\') {
        i++;
        if (t[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(t[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= t.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const open = t[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      ws();
      if (t[i] === close) return void i++;
      for (;;) {
        if (open === '{') {
          ws();
          if (t[i] !== '"') fail();
          str();
          ws();
          if (t[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (t[i] === ',') i++;
        else if (t[i] === close) return void i++;
        else fail();
      }
    }
    if (open === '"') return str();
    JSON_ATOM.lastIndex = i;
    const m = JSON_ATOM.exec(t);
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    if (i < t.length) fail();
    return -1;
  } catch (p) {
    if (typeof p === 'number') return p;
    return t.length; // nested too deep to walk: say the end
  }
}

/** Parses JSON text of `file`: not JSON -> where (line, column) and why; a repeated key -> which and where. */
export function parseJsonText(file: string, text: string): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // V8's reason without its position or its quote of the text (which may span lines)
    const why = (e as Error).message
      .split('\n')[0]!
      .replace(/ (?:in JSON )?at position \d+.*$/, '')
      .replace(/, (?:\.\.\.)?".*$/, '');
    const at = jsonErrorAt(text);
    const { line, column } = lineCol(text, at < 0 ? text.length : at);
    throw new UsageError(`${file}: not JSON at line ${line}, column ${column} (${why})`, 'bad-file');
  }
  const dup = findDuplicateKey(text);
  if (dup) throw new UsageError(`${file}: key "${dup.key}" given twice in ${dup.at} (line ${dup.line}, column ${dup.column}): give it once`, 'bad-file');
  return raw;
}

/** Reads a JSON configuration file through a schema: unreadable -> exit 1, not JSON, repeated keys or invalid -> exit 2. */
export function readConfigFile<T extends z.ZodTypeAny>(file: string, schema: T): z.output<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new RuntimeError(`cannot read ${file}: ${fsErrorLine(e)}`, 'file');
  }
  const r = schema.safeParse(parseJsonText(file, text));
  if (!r.success) throw new UsageError(formatFileError(file, r.error), 'bad-file');
  return r.data;
}
