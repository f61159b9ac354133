import { buildProgram, registrationsFor } from './commands.js';

const program = buildProgram();
for (const register of await registrationsFor(process.argv.slice(2))) register(program);

await program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`bos: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
