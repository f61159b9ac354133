import { buildProgram, registrationsFor } from './commands.js';
import { messageOf } from '../common/errors.js';

const program = buildProgram();
for (const register of await registrationsFor(process.argv.slice(2))) register(program);

await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`bos: ${messageOf(err)}\n`);
  process.exit(1);
});
