/**
 * The administrator commands against any BOS v2 API: sessiontemplates, sessions, components,
 * options and applystaged. `register(program)` adds them to the `bos` program; `runAdmin(argv, io)`
 * runs one command line in-process with its output captured (used by the tests).
 */
import { Command, CommanderError } from 'commander';
import { processIo, type Io } from './common.js';
import { registerApplystaged } from './applystaged.js';
import { registerComponents } from './components.js';
import { registerOptions } from './options.js';
import { registerSessions } from './sessions.js';
import { registerTemplates } from './templates.js';

export function register(program: Command, io: Io = processIo): void {
  registerTemplates(program, io);
  registerSessions(program, io);
  registerComponents(program, io);
  registerOptions(program, io);
  registerApplystaged(program, io);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run one administrator command line (argv without `bos`) in-process; output captured. */
export async function runAdmin(argv: string[], opts: { isTTY?: boolean; columns?: number } = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const io: Io = {
    out: { write: (s: string) => ((stdout += s), true), isTTY: opts.isTTY, columns: opts.columns },
    err: { write: (s: string) => ((stderr += s), true) },
    exit: (c) => {
      code = c;
    },
  };
  const program = new Command().name('bos').exitOverride();
  program.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  register(program, io);
  const applyExitOverride = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
    c.commands.forEach(applyExitOverride);
  };
  applyExitOverride(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    code = err.exitCode;
  }
  return { code, stdout, stderr };
}
