// The CPU profile tables of the bench profilers (ci/bench/cpu-profile.mjs, ci/bench/scale.mjs's
// BENCH_SCALE_PROFILE): where a server's main thread spent the sampled time of chosen windows.

/**
 * Prints self time by file/package and by function, and inclusive time of our code and packages,
 * over the samples of `profile` (a .cpuprofile) inside `windows` ({ from, to } in the profile's
 * own µs clock). `root` is the checkout (shortens our files' URLs), `top` the rows per table.
 */
export function printProfile(profile, windows, { root, top = 30 }) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (!windows.some((w) => t >= w.from && t <= w.to)) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const where = (url) => {
    if (!url) return '(native)';
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
    return pkg ? `npm:${pkg[1]}` : url.replace(`file://${root}`, '');
  };
  const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const byFile = new Map();
  const byFunction = new Map();
  const inclusive = new Map();
  for (const [id, time] of self) {
    const node = nodes.get(id);
    const file = node.callFrame.url ? where(node.callFrame.url) : node.callFrame.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + time);
    byFunction.set(name(node), (byFunction.get(name(node)) ?? 0) + time);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = name(nodes.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
  }
  const table = (title, map, keep = () => true) => {
    console.log(`\n${title} (% of the main thread's ${(total / 1000).toFixed(0)} ms sampled in the measured rounds, idle included)`);
    for (const [key, time] of [...map].filter(([key]) => keep(key)).sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`${((100 * time) / total).toFixed(1).padStart(6)}%  ${key}`);
  };
  table('self time by file or package', byFile);
  table('self time by function', byFunction);
  table('inclusive time, our code and packages', inclusive, (key) => key.includes(' dist/') || key.includes(' npm:'));
}
