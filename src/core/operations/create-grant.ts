/**
 * CreateGrant: lets a grantee principal use a key for the listed operations, optionally only
 * under an encryption context constraint. Returns the grant id and a grant token the grantee
 * can use at once. With a `Name`, a retry with the same properties returns the existing grant.
 */
import { randomBytes } from 'node:crypto';
import { requireEnabled, resolveKeyIdOrArn } from '../key-resolver.js';
import { KmsError } from '../errors.js';
import { MAX_GRANTS_PER_KEY, parseRequestedGrant, writeGrantToken, type GrantRecord } from '../grants/index.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { dryRunSucceeded, parseDryRun, parseGrantTokens } from './crypto-helpers.js';
import { rootArn } from '../admin/principals.js';
import { lockNames } from '../locks.js';
import {
  checkGrantFitsKey,
  grantConditions,
  parseGrantName,
  parseGrantPrincipal,
  sameGrantProperties,
} from './grant-rules.js';

export const createGrant: Operation = {
  name: 'CreateGrant',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const granteePrincipal = (await parseGrantPrincipal(deps, input, 'GranteePrincipal', true))!;
    const retiringPrincipal = await parseGrantPrincipal(deps, input, 'RetiringPrincipal', false);
    const { operations, constraints } = parseRequestedGrant(input);
    const name = parseGrantName(input);
    parseGrantTokens(input);
    const dryRun = parseDryRun(input);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    requireEnabled(key);
    checkGrantFitsKey(key, operations, constraints);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:CreateGrant',
      key,
      context: grantConditions(operations, granteePrincipal, retiringPrincipal, constraints),
    });
    if (dryRun) throw dryRunSucceeded();

    const requested: Omit<GrantRecord, 'grantId' | 'creationDate' | 'creatorPrincipal'> = {
      keyId: key.keyId,
      name,
      granteePrincipal,
      retiringPrincipal,
      issuingAccount: rootArn(deps.settings),
      operations: [...operations],
      constraints,
    };
    const grant = await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.key(key.keyId));
      if (name !== undefined) {
        const retried = (await tx.findGrantsByName(key.keyId, name)).find((g) => sameGrantProperties(requested, g));
        if (retried) return retried;
      }
      const count = await tx.countGrants(key.keyId);
      if (count >= MAX_GRANTS_PER_KEY)
        throw new KmsError(
          'LimitExceededException',
          `${key.arn} already has ${count} grants, the most a KMS key can have (${MAX_GRANTS_PER_KEY}). Retire or revoke grants it no longer needs.`,
        );
      const created: GrantRecord = {
        ...requested,
        grantId: randomBytes(32).toString('hex'),
        creatorPrincipal: ctx.principal.arn,
        creationDate: deps.clock.now(),
      };
      await tx.insertGrant(created);
      return created;
    });
    return { GrantId: grant.grantId, GrantToken: await writeGrantToken(deps.backend, { grantId: grant.grantId, keyId: key.keyId }) };
  },
};
