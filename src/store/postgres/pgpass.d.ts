/** The `pgpass` package (libpq's password file lookup, as `pg` itself uses it); it ships no types. */
declare module 'pgpass' {
  function pgpass(connInfo: { host?: string; port?: number; database?: string; user?: string }, callback: (password: string | undefined) => void): void;
  export default pgpass;
}
