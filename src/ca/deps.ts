/** What every CA operation is given: built once by whoever runs the CA (CLI, server). */
import type { CaKms, CaStore } from './ports.js';

export interface CaDeps {
  kms: CaKms;
  store: CaStore;
  now: () => Date;
}
