import { Command } from 'commander';
import { API_VERSION } from '../common/constants.js';

/**
 * The `bos` command. Each sub-command lives in its own module and registers itself on the program.
 * Only the module of the command being run is loaded (all of them for `--help` or an unknown
 * command), so quick commands such as `bos applystaged` start fast.
 */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('bos')
    .description('Boot Orchestration Service (BOS) v2: API server, operators, simulator and administrator commands')
    .version(`${API_VERSION.major}.${API_VERSION.minor}.${API_VERSION.patch}`)
    .showHelpAfterError('(run with --help for usage)');
  return program;
}

type Register = (p: Command) => void;
const admin = async (): Promise<Register> => (await import('./admin/index.js')).register;

/** Command name (and aliases) → the module that registers it. */
export const COMMAND_MODULES: Record<string, () => Promise<Register>> = {
  up: async () => (await import('./up.js')).register,
  sim: async () => (await import('./sim.js')).register,
  serve: async () => (await import('./serve.js')).register,
  operators: async () => (await import('./operators.js')).register,
  demo: async () => (await import('./demo.js')).register,
  sessiontemplates: admin,
  sessiontemplate: admin,
  sessions: admin,
  session: admin,
  components: admin,
  component: admin,
  options: admin,
  applystaged: admin,
};

/** The registrations needed for these arguments: one module for a known command, else all of them. */
export async function registrationsFor(argv: readonly string[]): Promise<Register[]> {
  const name = argv.find((a) => !a.startsWith('-'));
  const loaders = name && COMMAND_MODULES[name] ? [COMMAND_MODULES[name]] : [...new Set(Object.values(COMMAND_MODULES))];
  return Promise.all(loaders.map((load) => load()));
}

