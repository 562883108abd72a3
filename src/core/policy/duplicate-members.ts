/**
 * Finds a member name repeated within one object of a JSON text. `JSON.parse` keeps the last
 * copy silently, other readers the first (or refuse), so a policy such as
 * `{"Effect":"Deny", …, "Effect":"Allow"}` would mean one thing to a person or a tool reading it
 * and another to the evaluator. One linear pass, no regular expression; call it only on text
 * `JSON.parse` accepted (it does not validate JSON itself). No Buffer: the web console runs it.
 */

/** The first member name repeated within one object, or undefined when there is none. */
export function firstDuplicateMember(text: string): string | undefined {
  // One entry per open container: the names seen so far in an object, or null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (expectName) {
        // Escapes such as \u0045 and E name the same member: compare decoded names.
        const name = JSON.parse(text.slice(start, i + 1)) as string;
        const names = stack[stack.length - 1]!;
        if (names.has(name)) return name;
        names.add(name);
        expectName = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectName = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
