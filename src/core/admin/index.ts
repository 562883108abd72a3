/**
 * The `HsmKms.*` administration operations (principals, roles, identity policies, access keys,
 * explain), one file each, registered with `operationRegistry` in `src/app.ts` next to the KMS
 * operations (see src/core/registry.ts for how to add one).
 */
import type { Operation } from '../operation.js';
import { createAccessKey } from './create-access-key.js';
import { createPrincipal } from './create-principal.js';
import { deleteAccessKey } from './delete-access-key.js';
import { deletePrincipal } from './delete-principal.js';
import { deletePrincipalPolicy } from './delete-principal-policy.js';
import { explainAuthorization } from './explain-authorization.js';
import { getCallerIdentity } from './get-caller-identity.js';
import { getPrincipal } from './get-principal.js';
import { listPrincipals } from './list-principals.js';
import { putPrincipalPolicy } from './put-principal-policy.js';
import { tagPrincipal, untagPrincipal } from './tag-principal.js';
import { updatePrincipalRoles } from './update-principal-roles.js';

export const adminOperations: readonly Operation[] = [
  createPrincipal,
  listPrincipals,
  getPrincipal,
  updatePrincipalRoles,
  putPrincipalPolicy,
  deletePrincipalPolicy,
  deletePrincipal,
  createAccessKey,
  deleteAccessKey,
  tagPrincipal,
  untagPrincipal,
  explainAuthorization,
  getCallerIdentity,
];
