/**
 * `bos options list|update`: the BOS options, each update flag typed and checked by the option
 * rules before anything is sent.
 */
import { type Command, Help, InvalidArgumentError, Option } from 'commander';
import { checkOption, OPTION_NAMES, optionRule, type OptionName } from '../../common/options.js';
import { BOS_LOG_LEVELS } from '../../log.js';
import { act, leaf, withConnection, type Io } from './common.js';
import { CliError } from './http.js';
import { json, show, table } from './output.js';

function optionFlag(name: OptionName): string {
  return `--${name.replaceAll('_', '-')}`;
}

/** Parse the text of one option value by its rule, or explain what is expected. */
export function parseOptionValue(name: OptionName, text: string): number | boolean | string {
  const rule = optionRule(name);
  let value: number | boolean | string;
  switch (rule.type) {
    case 'integer':
      if (!/^-?\d+$/.test(text.trim())) throw new InvalidArgumentError(`"${text}" is not a whole number (${rule.min}..${rule.max})`);
      value = Number(text);
      break;
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw new InvalidArgumentError(`"${text}" is not true or false`);
      value = text === 'true';
      break;
    default:
      value = name === 'logging_level' ? text.toUpperCase() : text;
  }
  let problem: string | undefined;
  try {
    problem = checkOption(name, value);
  } catch (err) {
    problem = `${name}: ${(err as Error).message}`;
  }
  if (problem) throw new InvalidArgumentError(problem.replace(`${name}: `, ''));
  return value;
}

function ruleText(name: OptionName): string {
  const r = optionRule(name);
  if (r.type === 'integer') return `integer ${r.min}..${r.max}`;
  if (r.type === 'boolean') return 'true|false';
  if (name === 'logging_level') return BOS_LOG_LEVELS.join('|');
  return 'duration, e.g. 30m, 4h, 7d, 2w';
}

export function registerOptions(program: Command, io: Io): void {
  const group = withConnection(program.command('options').description('show and change the BOS options'));

  leaf(group.command('list'))
    .description('show every option and its value')
    .action(
      act(io, async (ctx) => {
        const opts = await ctx.api.get<Record<string, unknown>>('/options');
        const rows = Object.keys(opts)
          .sort()
          .map((k) => ({ k, v: opts[k] }));
        ctx.io.out.write(
          ctx.format === 'json'
            ? json(opts)
            : table(
                [
                  { header: 'OPTION', get: (r: { k: string; v: unknown }) => r.k },
                  { header: 'VALUE', get: (r: { k: string; v: unknown }) => (r.v === '' ? '""' : show(r.v)) },
                ],
                rows,
              ),
        );
      }),
    );

  const update = leaf(group.command('update')).description('change options, e.g. `bos options update --polling-frequency 30 --clear-stage true`');
  for (const name of OPTION_NAMES) {
    update.addOption(new Option(`${optionFlag(name)} <value>`).argParser((v) => parseOptionValue(name, v)));
  }
  // The rules are read from the OpenAPI document only when the help is shown, not at every start.
  update.configureHelp({
    optionDescription: (option) => {
      const name = OPTION_NAMES.find((n) => option.long === optionFlag(n));
      return name ? ruleText(name) : new Help().optionDescription(option);
    },
  });
  update.action(
    act<Record<string, unknown>>(io, async (ctx, _args, o) => {
      const body: Record<string, unknown> = {};
      for (const name of OPTION_NAMES) {
        const attr = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
        if (o[attr] !== undefined) body[name] = o[attr];
      }
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give at least one option, e.g. --polling-frequency 30 (see bos options update --help)');
      const after = await ctx.api.patch<Record<string, unknown>>('/options', body);
      if (ctx.format === 'json') ctx.io.out.write(json(after));
      else for (const k of Object.keys(body)) ctx.io.out.write(`${k} = ${show(after[k])}\n`);
    }),
  );
}
