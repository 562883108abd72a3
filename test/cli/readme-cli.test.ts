/**
 * The README's Configuration and Command line sections against the command line itself: every
 * option of every command is documented, every option the README gives a command exists on it,
 * and the configuration table's environment variables and defaults are those `serve` applies.
 * (Loads the command modules only, as `--help` does: no HSM, store or server.)
 */
import { readFileSync } from 'node:fs';
import { Command, type Option } from 'commander';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const mainSource = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8');

/** The command modules main.ts loads lazily, as `import('./serve.js')).serveCommand()`. */
const loaders = [...mainSource.matchAll(/import\('\.\/([a-z-]+)\.js'\)\)\.(\w+)\(\)/g)].map((m) => ({ file: m[1]!, factory: m[2]! }));

interface Leaf {
  path: string;
  options: readonly Option[];
}

async function allCommands(): Promise<Leaf[]> {
  const out: Leaf[] = [];
  const walk = (command: Command, path: string[]) => {
    out.push({ path: path.join(' '), options: command.options });
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  for (const { file, factory } of loaders) {
    const module = (await import(`../../src/cli/${file}.ts`)) as Record<string, () => Command>;
    const command = module[factory]!();
    walk(command, [command.name()]);
  }
  return out;
}

/** `--flag` tokens in a piece of README text (not `---`, not inside words). */
const flagsIn = (text: string): string[] => [...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]);

function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README ↔ command line', () => {
  it('finds every command main.ts registers', () => {
    expect(loaders.map((l) => l.file)).toEqual(expect.arrayContaining(['serve', 'principal', 'token', 'tls', 'audit', 'ca', 'xks', 'key', 'region']));
    expect(loaders.length).toBe((mainSource.match(/\bname: '[a-z]+'/g) ?? []).length);
  });

  it('documents every option of every command', async () => {
    const documented = new Set(flagsIn(readme));
    const undocumented = (await allCommands()).flatMap(({ path, options }) =>
      options.filter((o) => !(o.long && documented.has(o.long)) && !(o.short && readme.includes(`${o.short} `))).map((o) => `${path} ${o.flags}`),
    );
    expect(undocumented).toEqual([]);
  });

  it('gives each command only options it has, wherever the README spells out `hsmkms <command> …`', async () => {
    const commands = new Map((await allCommands()).map((c) => [c.path, new Set(c.options.flatMap((o) => [o.long, o.short]))]));
    const wrong: string[] = [];
    let checked = 0;
    // A command line runs to the end of its code span, table cell or line (continuation lines included).
    const text = readme.replace(/\\\n\s*/g, ' ');
    for (const match of text.matchAll(/hsmkms ([a-z][a-z-]*(?: [a-z][a-z-]*)*)([^`|\n]*)/g)) {
      const words = match[1]!.split(' ');
      let path: string | undefined;
      for (let n = words.length; n > 0 && path === undefined; n--) if (commands.has(words.slice(0, n).join(' '))) path = words.slice(0, n).join(' ');
      if (path === undefined) continue;
      checked++;
      for (const flag of flagsIn(match[0])) if (flag !== '--help' && !commands.get(path)!.has(flag)) wrong.push(`${path}: ${flag} (in "${match[0].trim()}")`);
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it("lists every serve option in the configuration table, with serve's environment variable and default", async () => {
    const serve = (await allCommands()).find((c) => c.path === 'serve')!;
    const table = new Map<string, { env: string; default: string }>();
    for (const row of section('Configuration').split('\n').filter((l) => l.startsWith('| `'))) {
      const [option = '', env = '', defaultCell = ''] = row.split(' | ').map((c) => c.replace(/^\| /, ''));
      for (const flag of flagsIn(option)) table.set(flag, { env, default: defaultCell });
    }
    const problems: string[] = [];
    for (const option of serve.options) {
      const row = option.long ? table.get(option.long) : undefined;
      if (!row) {
        problems.push(`${option.long}: no row`);
        continue;
      }
      if (option.envVar && !row.env.includes(`\`${option.envVar}\``)) problems.push(`${option.long}: env ${option.envVar}, README says ${row.env}`);
      const value: unknown = option.defaultValue;
      if (typeof value === 'string' && !row.default.includes(`\`${value}\``)) problems.push(`${option.long}: default ${value}, README says ${row.default}`);
    }
    // Options serve does not have are rows of other commands, named as such.
    for (const flag of table.keys()) if (!serve.options.some((o) => o.long === flag || (o.negate && o.long === flag))) problems.push(`${flag}: not a serve option`);
    expect(problems.filter((p) => !/^--(base-url|kms-endpoint): not a serve option$/.test(p))).toEqual([]);
  });
});
