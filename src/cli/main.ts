import { buildProgram, registrationsFor } from './commands.js';
import { messageOf } from '../common/errors.js';

// A reader that went away (`bos ... | head`) ends the command quietly, as for any Unix tool.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = buildProgram();
for (const register of await registrationsFor(process.argv.slice(2))) register(program);

await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`bos: ${messageOf(err)}\n`);
  process.exit(1);
});
