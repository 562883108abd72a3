/** Deterministic pseudo-random choices (mulberry32) for the generated policy tests. */
export function seededRandom(seed: number) {
  let s = seed;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number): boolean => next() < p;
  /** One to `max` picks. */
  const some = <T>(items: readonly T[], max: number): T[] => Array.from({ length: 1 + int(max) }, () => pick(items));
  return { next, int, pick, chance, some };
}

export type SeededRandom = ReturnType<typeof seededRandom>;
