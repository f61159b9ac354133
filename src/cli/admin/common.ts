/**
 * Shared plumbing of the administrator commands: the connection options every command group takes,
 * the per-command context (API client, output format, output streams) and the action wrapper that
 * turns errors into one `bos: ...` line and an exit code.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { BosApi, CliError, DEFAULT_URL } from './http.js';
import { parseFormat, type Format, type Writer } from './output.js';

/** Where a command writes. `isTTY` picks the live watch view over plain lines. */
export interface Io {
  out: Writer & { isTTY?: boolean; columns?: number };
  err: Writer;
  /** Set the process exit code (default: process.exitCode). */
  exit?: (code: number) => void;
}

export const processIo: Io = {
  out: process.stdout,
  err: process.stderr,
};

export interface Ctx {
  api: BosApi;
  format: Format;
  io: Io;
}

interface ConnectionFlags {
  url?: string;
  tenant?: string;
  tokenFile?: string;
  token?: string;
  format?: string;
  verbose?: boolean;
  timeout?: number;
}

/** `--timeout`: seconds, a positive number. */
function parseTimeout(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0)) throw new InvalidArgumentError('use a positive number of seconds, e.g. 60');
  return n;
}

/** Add --url, --tenant, --token-file, --format and --verbose to a command group (or a lone command). */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', `BOS API base, with or without /v2 (env BOS_URL; default ${DEFAULT_URL})`)
    .option('--tenant <name>', 'tenant, sent as Cray-Tenant-Name (env BOS_TENANT; default none)')
    .option('--token-file <file>', 'file holding a bearer token (env BOS_TOKEN_FILE); the token is never printed')
    .option('--token <token>', 'the bearer token itself (env BOS_TOKEN; wins over --token-file)')
    .addOption(
      new Option('--format <format>', 'output: table (default; env BOS_FORMAT) or json').argParser((v) => {
        if (v !== 'json' && v !== 'table') throw new InvalidArgumentError('use json or table');
        return v;
      }),
    )
    .option('-v, --verbose', 'print each API request (method, URL, HTTP status, time) on stderr')
    .option('--timeout <seconds>', 'give up on an API request after this many seconds (env BOS_TIMEOUT; default 60)', parseTimeout);
}

/** Leaf commands show the group's connection options in their --help. */
export function leaf(cmd: Command): Command {
  return cmd.configureHelp({ showGlobalOptions: true });
}

function makeCtx(flags: ConnectionFlags, io: Io): Ctx {
  let format: Format;
  try {
    format = parseFormat(flags.format);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const api = new BosApi({
    url: flags.url,
    tenant: flags.tenant,
    tokenFile: flags.tokenFile,
    token: flags.token,
    trace: flags.verbose ? (line) => io.err.write(`bos: ${line}\n`) : undefined,
    timeoutMs: timeoutSeconds(flags.timeout) * 1000,
  });
  return { api, format, io };
}

/** The request time limit: --timeout, else BOS_TIMEOUT, else 60 s. */
function timeoutSeconds(flag: number | undefined): number {
  if (flag !== undefined) return flag;
  const env = process.env.BOS_TIMEOUT;
  if (env === undefined || env === '') return 60;
  try {
    return parseTimeout(env);
  } catch {
    throw new CliError(`BOS_TIMEOUT=${JSON.stringify(env)} is not valid: use a positive number of seconds, e.g. 60`);
  }
}

type Handler<O> = (ctx: Ctx, args: string[], opts: O) => Promise<number | void>;

/**
 * Wrap a command handler: builds the context from the command's (and its group's) options, runs
 * the handler, reports a CliError as one line on stderr and sets the exit code.
 */
export function act<O = Record<string, unknown>>(io: Io, fn: Handler<O>) {
  return async (...a: unknown[]): Promise<void> => {
    const cmd = a[a.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as O & ConnectionFlags;
    const args = (a.slice(0, -2) as (string | string[] | undefined)[]).flatMap((x) => (x === undefined ? [] : x));
    let code = 0;
    try {
      code = (await fn(makeCtx(opts, io), args, opts)) ?? 0;
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      io.err.write(`bos: ${err.message}\n`);
      code = err.exitCode;
    }
    if (io.exit) io.exit(code);
    else if (code !== 0) process.exitCode = code;
  };
}

/** Parsers for option values, with messages that say what is expected. */
export function boolArg(v: string): boolean {
  const s = v.toLowerCase();
  if (s === 'true' || s === 'yes' || s === '1') return true;
  if (s === 'false' || s === 'no' || s === '0') return false;
  throw new InvalidArgumentError(`"${v}" is not true or false`);
}

export function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`"${v}" is not a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/**
 * Age strings of the sessions filters (docs/api.md, "Listing and deleting sessions"), checked before
 * asking the API.
 */
export function ageArg(v: string): string {
  if (!/^(0|0[mMhHdDwW]|[1-9][0-9]*[mMhHdDwW])$/.test(v)) {
    throw new InvalidArgumentError(`"${v}" is not an age: use a number and a unit m, h, d or w (e.g. 30m, 4h, 7d, 2w) or 0`);
  }
  return v;
}

export function secondsArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError(`"${v}" is not a number of seconds above 0 (at most 3600)`);
  return n;
}
