/**
 * `.ci/run` is what the README tells a user to do: the quick start's install and test commands,
 * in that order, and nothing else that could make CI pass where a user's checkout would not.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const ciRun = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');

/** The commands of a shell text: no comments, blank lines or trailing `# …` remarks. */
const commands = (text: string): string[] =>
  text
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

describe('.ci/run', () => {
  it("runs the README quick start's npm install and npm test, and nothing else but strict mode and cd", () => {
    const quickStart = readme.slice(readme.indexOf('\n## Quick start\n'));
    const block = /```sh\n([\s\S]*?)```/.exec(quickStart)?.[1] ?? '';
    const userSteps = commands(block).filter((c) => c !== 'npm start');
    expect(userSteps).toEqual(['npm install', 'npm test']);
    const ci = commands(ciRun);
    expect(ci).toEqual(['set -euo pipefail', 'cd "$(dirname "$0")/.."', ...userSteps]);
  });
});
