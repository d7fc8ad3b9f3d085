// zod schemas for every input: command-line values and the apply file. Errors become one clear line.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import { MAX_SID_LEN } from '../bpf/layout.js';
import { RuntimeError, UsageError } from './errors.js';
import { parseSpec, type CidSpec } from './spec.js';

export const ServerIdHex = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^0x/, ''))
  .refine((s) => /^([0-9a-f]{2})+$/.test(s) && s.length / 2 <= MAX_SID_LEN, {
    message: `server ID must be 1..${MAX_SID_LEN} bytes of hex as in the CID (e.g. 0a0b or 0x0a0b)`,
  });

export const Mac = z
  .string()
  .refine((s) => /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(s), { message: 'MAC must be six hex bytes like 02:00:00:00:00:01' })
  .transform((s) => s.toLowerCase().replace(/-/g, ':'));

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

export const Spec = z.string().transform((s, ctx): CidSpec => {
  try {
    return parseSpec(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^bad CID spec '[^']*': /, '') });
    return z.NEVER;
  }
});

export const Mode = z.enum(['native', 'generic']);
export const State = z.enum(['up', 'down', 'drain']);
export const Ifname = z.string().regex(/^[^\s/:]{1,15}$/, 'not an interface name');

/** Parses one value; a failure is a UsageError naming the value and what was wrong with it. */
export function parse<T extends z.ZodTypeAny>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new UsageError(`bad ${what} '${String(value)}': ${r.error.issues[0]?.message ?? 'invalid'}`);
}

/** The apply file: this server's whole quicsteer configuration. */
export const ConfigFile = z
  .object({
    localId: ServerIdHex,
    interfaces: z.array(z.object({ name: Ifname, mode: Mode.default('native') }).strict()).default([]),
    vips: z.array(z.object({ address: Endpoint, cid: z.union([Spec.transform((s) => [s]), z.array(Spec).nonempty()]) }).strict()).default([]),
    servers: z
      .array(
        z
          .object({ id: ServerIdHex, mac: Mac.optional(), ip: IpAddress.optional(), dev: Ifname.optional(), state: State.default('up') })
          .strict()
          .refine((s) => (s.mac === undefined) !== (s.ip === undefined), { message: 'give exactly one of mac and ip' }),
      )
      .default([]),
  })
  .strict();

export type ConfigFileT = z.output<typeof ConfigFile>;

/** A zod error of the apply file as one line: where in the file, and what. */
export function formatFileError(file: string, e: z.ZodError): string {
  const i = e.issues[0]!;
  const at = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : '(top level)';
  return `${file}: ${at}: ${i.message}`;
}

/** Reads a JSON configuration file through a schema: unreadable -> exit 1, not JSON or invalid -> exit 2. */
export function readConfigFile<T extends z.ZodTypeAny>(file: string, schema: T): z.output<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code ? new RuntimeError(`cannot read ${file}: ${(e as Error).message}`) : new UsageError(`${file}: not JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new UsageError(formatFileError(file, r.error));
  return r.data;
}
