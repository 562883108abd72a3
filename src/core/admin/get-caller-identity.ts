/**
 * HsmKms.GetCallerIdentity: who the signed caller is — as STS GetCallerIdentity answers it
 * (`Account`, `Arn`, `UserId`), plus the user name, the roles the service holds now and the access
 * key that signed, and for a RegionPeer the region it is bound to (`PeerRegion`, absent when it is
 * bound to none; `hsmkms region add` checks it). Every role may ask; it is how a client (the web
 * console) learns what to offer without probing calls that would fill the audit trail with denials.
 */
import { boundPeerRegion } from '../authorization/peer-region.js';
import type { Operation } from '../operation.js';
import { rootArn } from './principals.js';

export const getCallerIdentity: Operation = {
  name: 'GetCallerIdentity',
  namespace: 'HsmKms',
  async run(deps, ctx) {
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:GetCallerIdentity', context: {} });
    const { principal } = ctx;
    const root = principal.arn === rootArn(deps.settings);
    const peerRegion = principal.roles.includes('RegionPeer')
      ? boundPeerRegion(principal.roles, (await deps.store.getPrincipalAuthorization(principal.arn))?.tags ?? [])
      : undefined;
    return {
      Account: principal.accountId,
      Arn: principal.arn,
      // STS's answer: the account id for the root, the unique id (AIDA…) for a user.
      UserId: root ? principal.accountId : (principal.userId ?? principal.name),
      UserName: principal.name,
      Roles: [...principal.roles],
      Root: root,
      ...(peerRegion !== undefined ? { PeerRegion: peerRegion } : {}),
      ...(ctx.accessKeyId !== undefined ? { AccessKeyId: ctx.accessKeyId } : {}),
    };
  },
};
