/**
 * Counting the session objects of this process in a token that other test files share.
 */
import pkcs11js from 'pkcs11js';

/** How long a found object must keep reading as a session object to count as one. */
const SETTLE_MS = 400;

/**
 * This process's session objects matching `template`, seen through session `s`.
 *
 * A search for CKA_TOKEN false alone also finds, now and then, a token object that another process
 * is creating in the same token: SoftHSM2 writes a new object's file attribute by attribute, and a
 * search that reads it before its template is in sees CKA_TOKEN (and CKA_SENSITIVE) at their
 * default, false, or some attributes not there at all. Such an object reads CKA_TOKEN true, or is
 * gone, moments later; one of this process's session objects reads CKA_TOKEN false for as long as
 * it exists. So a found object counts only while it reads CKA_TOKEN false on every read over
 * {@link SETTLE_MS} (a read every 20 ms). An object destroyed meanwhile does not count either.
 */
export async function sessionObjects(m: pkcs11js.PKCS11, s: pkcs11js.Handle, template: pkcs11js.Template = []): Promise<pkcs11js.Handle[]> {
  m.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_TOKEN, value: false }, ...template]);
  let found: pkcs11js.Handle[];
  try {
    found = m.C_FindObjects(s, 100_000);
  } finally {
    m.C_FindObjectsFinal(s);
  }
  const until = Date.now() + SETTLE_MS;
  for (;;) {
    found = found.filter((h) => readsAsSessionObject(m, s, h));
    if (found.length === 0 || Date.now() >= until) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readsAsSessionObject(m: pkcs11js.PKCS11, s: pkcs11js.Handle, h: pkcs11js.Handle): boolean {
  try {
    const [token] = m.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_TOKEN }]);
    return token!.value!.length === 1 && token!.value![0] === 0;
  } catch {
    return false; // gone, or an attribute not written yet
  }
}
