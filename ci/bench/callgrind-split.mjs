// Where a thread's instructions go at the V8 level, from a callgrind output file (self cost, no
// call graph): JIT-compiled JavaScript, V8's inline-cache and Sparkplug builtins, the garbage
// collector, JSON, strings and regular expressions, other builtins and V8's C++, OpenSSL, malloc,
// SoftHSM2, SQLite, pkcs11js and the rest. A CPU profile shows which JavaScript function is on
// the stack; this shows what kind of machine work the request path is made of (a flat profile of
// functions can still be dominated by, say, property-lookup stubs or GC).
// Usage: import { splitByKind, formatSplit } from './callgrind-split.mjs' (instructions.mjs
// prints it for the main thread with CG_SPLIT=1), or: node ci/bench/callgrind-split.mjs FILE [N]
// (N: requests the file covers, to print per request).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The kind of work a function is, by its object file and symbol. Order matters: first match wins. */
const KINDS = [
  ['JIT-compiled JavaScript', (ob) => ob === '???'],
  ['SoftHSM2', (ob) => ob.includes('softhsm')],
  ['SQLite', (ob) => ob.includes('sqlite')],
  ['pkcs11js', (ob) => ob.includes('pkcs11')],
  ['malloc/free', (ob, fn) => /libc\.so|libstdc\+\+/.test(ob) && /malloc|free|_int_|consolidate|tcache|operator new|operator delete/.test(fn)],
  ['libc, libstdc++ (other)', (ob) => /libc\.so|libstdc\+\+|libm\.so|libgcc/.test(ob)],
  ['garbage collection', (_ob, fn) => /Scaveng|MarkCompact|Sweep|Evacuat|IterateObjectCache|RootScavenge|RememberedSet|SlotSet|BodyDescriptor|Heap::|ConcurrentMarking|MinorMC|IncrementalMarking|GCTracer/.test(fn)],
  ['OpenSSL (SHA-256 without SHA-NI under valgrind)', (_ob, fn) => /^(sha|SHA|CRYPTO_|OSSL_|EVP_|HMAC|ossl_|OPENSSL_|evp_|BN_|ERR_)/.test(fn)],
  ['inline-cache builtins (property access)', (_ob, fn) => /^Builtins_\w*IC(_\w+|Baseline|Trampoline)?('\d+)?$/.test(fn) || /LookupIterator|Object::GetProperty|Runtime_\w*IC/.test(fn)],
  ['Sparkplug (baseline) builtins', (_ob, fn) => /^Builtins_\w*Baseline/.test(fn)],
  ['JSON', (_ob, fn) => /Json|JSON/.test(fn)],
  ['promises, async functions, microtasks', (_ob, fn) => /^Builtins_\w*(Promise|Async|Microtask|Await)/.test(fn)],
  ['strings, regular expressions', (_ob, fn) => /String|RegExp|Utf8|Utf16|simdutf/.test(fn)],
  ['other builtins', (_ob, fn) => fn.startsWith('Builtins_')],
  ['Node C++ (HTTP parser, streams, crypto binding)', (_ob, fn) => /^(node::|llhttp|uv_|napi_)/.test(fn)],
  ['V8 C++ (runtime, objects, API)', (_ob, fn) => fn.startsWith('v8::')],
  ['other', () => true],
];

/** Self instructions by kind, from the text of one callgrind output file. */
export function splitByKind(text) {
  const names = { ob: new Map(), fn: new Map() };
  // Callgrind compresses names: "(12) name" defines id 12, "(12)" refers to it.
  const resolve = (table, spec) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!m) return spec;
    if (m[2] !== undefined) table.set(m[1], m[2]);
    return table.get(m[1]) ?? spec;
  };
  const totals = new Map(KINDS.map(([kind]) => [kind, 0]));
  let ob = '';
  let kind = 'other';
  let afterCalls = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('ob=')) ob = resolve(names.ob, line.slice(3));
    else if (line.startsWith('fn=')) {
      const fn = resolve(names.fn, line.slice(3));
      kind = KINDS.find(([, matches]) => matches(ob, fn))[0];
    } else if (line.startsWith('cob=')) resolve(names.ob, line.slice(4));
    else if (line.startsWith('cfn=')) resolve(names.fn, line.slice(4));
    else if (line.startsWith('calls=')) afterCalls = true;
    else if (/^[0-9+*-]/.test(line)) {
      // The cost line after calls= is the call's inclusive cost, not this function's own.
      if (afterCalls) afterCalls = false;
      else totals.set(kind, totals.get(kind) + Number(line.split(' ')[1] ?? 0));
    }
  }
  return totals;
}

/** The split as lines: instructions per request (or in all) and share, largest first. */
export function formatSplit(totals, requests = 1) {
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${Math.round(n / requests).toLocaleString('en-US').padStart(12)}  ${((100 * n) / all).toFixed(1).padStart(5)}%  ${kind}`)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, requests = '1'] = process.argv.slice(2);
  if (!file) throw new Error('usage: node ci/bench/callgrind-split.mjs CALLGRIND_OUT_FILE [REQUESTS]');
  console.log(formatSplit(splitByKind(readFileSync(file, 'utf8')), Number(requests)));
}
