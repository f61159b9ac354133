import { describe, expect, it } from 'vitest';
import { buildProgram, COMMAND_MODULES, registrationsFor } from '../../src/cli/commands.js';

describe('bos command loading', () => {
  it('maps every command and alias the modules register, and nothing else', async () => {
    const program = buildProgram();
    for (const register of await registrationsFor([])) register(program);
    const registered = program.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();
    expect(registered).toEqual(Object.keys(COMMAND_MODULES).sort());
  });

  it('loads only the module of the command being run, and all of them for help or an unknown word', async () => {
    expect(await registrationsFor(['applystaged', 'x1'])).toHaveLength(1);
    expect(await registrationsFor(['sessions', 'list', '--format', 'json'])).toHaveLength(1);
    const all = new Set(Object.values(COMMAND_MODULES)).size;
    expect(await registrationsFor(['--help'])).toHaveLength(all);
    expect(await registrationsFor(['nonsense'])).toHaveLength(all);
  });
});
