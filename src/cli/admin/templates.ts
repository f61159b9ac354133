/**
 * `bos sessiontemplates list|describe|create|update|delete|validate|template`.
 */
import { readFileSync } from 'node:fs';
import { type Command } from 'commander';
import { load as loadYaml } from 'js-yaml';
import type { SessionTemplate } from '../../common/types.js';
import { act, leaf, withConnection, type Io } from './common.js';
import { CliError, seg } from './http.js';
import { describe, json, show, table, type Column } from './output.js';

const TEMPLATE_COLUMNS: Column<SessionTemplate>[] = [
  { header: 'NAME', get: (t) => t.name },
  { header: 'TENANT', get: (t) => show(t.tenant) },
  { header: 'BOOT SETS', get: (t) => Object.keys(t.boot_sets ?? {}).join(',') || '-', max: 40 },
  { header: 'CFS', get: (t) => (t.enable_cfs === false ? 'off' : show(t.cfs?.configuration)), max: 40 },
  { header: 'DESCRIPTION', get: (t) => show(t.description), max: 60 },
];

/** Read a template body from a JSON or YAML file (`-` = standard input). */
function readBodyFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file === '-' ? 'standard input' : file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let body: unknown;
  try {
    body = /^\s*[{[]/.test(text) ? JSON.parse(text) : loadYaml(text);
  } catch (err) {
    throw new CliError(`${file} is neither JSON nor YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CliError(`${file} must hold one object (the session template)`);
  return body;
}

/** The API refuses read-only fields; a file saved from `describe` carries them, so drop them. */
function stripReadOnly(body: unknown): unknown {
  const { name: _n, tenant: _t, links: _l, ...rest } = body as Record<string, unknown>;
  return rest;
}

export function registerTemplates(program: Command, io: Io): void {
  const group = withConnection(
    program
      .command('sessiontemplates')
      .alias('sessiontemplate')
      .description('list, show, create, change, validate and delete session templates'),
  );

  leaf(group.command('list'))
    .description('list session templates')
    .action(
      act(io, async (ctx) => {
        const list = await ctx.api.get<SessionTemplate[]>('/sessiontemplates');
        list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        ctx.io.out.write(ctx.format === 'json' ? json(list) : table(TEMPLATE_COLUMNS, list));
      }),
    );

  leaf(group.command('describe').argument('<name>', 'session template name'))
    .description('show one session template')
    .action(
      act(io, async (ctx, [name]) => {
        const t = await ctx.api.get<SessionTemplate>(`/sessiontemplates/${seg(name!)}`);
        ctx.io.out.write(ctx.format === 'json' ? json(t) : describe(t));
      }),
    );

  leaf(group.command('create').argument('<name>', 'session template name'))
    .description('create (or replace) a session template from a JSON or YAML file')
    .requiredOption('--file <file>', 'the template body, JSON or YAML (- = standard input); start from `bos sessiontemplates template`')
    .action(
      act<{ file: string }>(io, async (ctx, [name], o) => {
        const t = await ctx.api.put<SessionTemplate>(`/sessiontemplates/${seg(name!)}`, stripReadOnly(readBodyFile(o.file)));
        ctx.io.out.write(ctx.format === 'json' ? json(t) : describe(t));
      }),
    );

  leaf(group.command('update').argument('<name>', 'session template name'))
    .description('change a session template (PATCH: description, enable_cfs, cfs, boot_sets merged by name)')
    .requiredOption('--file <file>', 'the fields to change, JSON or YAML (- = standard input)')
    .action(
      act<{ file: string }>(io, async (ctx, [name], o) => {
        const t = await ctx.api.patch<SessionTemplate>(`/sessiontemplates/${seg(name!)}`, stripReadOnly(readBodyFile(o.file)));
        ctx.io.out.write(ctx.format === 'json' ? json(t) : describe(t));
      }),
    );

  leaf(group.command('delete').argument('<name>', 'session template name'))
    .description('delete a session template')
    .action(
      act(io, async (ctx, [name]) => {
        await ctx.api.delete(`/sessiontemplates/${seg(name!)}`);
        if (ctx.format === 'table') ctx.io.out.write(`deleted session template ${name}\n`);
      }),
    );

  leaf(group.command('validate').argument('<name>', 'session template name'))
    .description('check a session template as a boot would (exit 0 with "Valid", warnings or the first error)')
    .action(
      act(io, async (ctx, [name]) => {
        const msg = await ctx.api.get<string>(`/sessiontemplatesvalid/${seg(name!)}`);
        ctx.io.out.write(ctx.format === 'json' ? json(msg) : `${msg}\n`);
      }),
    );

  leaf(group.command('template'))
    .description('print an example session template to start from (always JSON)')
    .action(
      act(io, async (ctx) => {
        ctx.io.out.write(json(await ctx.api.get<unknown>('/sessiontemplatetemplate')));
      }),
    );
}
