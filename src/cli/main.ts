import { Command } from 'commander';
import { API_VERSION } from '../common/constants.js';
import { register as registerUp } from './up.js';
import { register as registerServe } from './serve.js';
import { register as registerSim } from './sim.js';
import { register as registerOperators } from './operators.js';
import { register as registerAdmin } from './admin/index.js';
import { register as registerDemo } from './demo.js';

/**
 * The `bos` command. Each sub-command lives in its own module and registers itself on the program;
 * add new ones to the list below.
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

const program = buildProgram();
const registrations: ((p: Command) => void)[] = [
  // sub-command modules register here
  registerUp,
  registerSim,
  registerServe,
  registerOperators,
  registerAdmin,
  registerDemo,
];
for (const register of registrations) register(program);

await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`bos: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
