/**
 * Which region a peer principal speaks for. A RegionPeer is the principal another region's
 * deployment calls this one with, and it is bound to that region by its principal tag
 * `hsmkms:PeerRegion` (set when it is made: `hsmkms principal create replicator-us-east-1 --role
 * RegionPeer --tag hsmkms:PeerRegion=us-east-1`). A peer-to-peer call acts for one key's primary
 * region — the region whose deployment alone replicates that key, sends its new versions and
 * tells its replicas what they share, as in AWS, where only the primary key's region makes and
 * updates its replicas — and passes it as the request's `hsmkms:PeerRegion`: only the peer bound
 * to that region may make it. So the peer of one region cannot create, fill, update or remove
 * replicas of keys whose primary is elsewhere (it would otherwise claim any primary region for an
 * unknown key id and plant a replica with material of its choosing).
 *
 * Every caller of a peer-to-peer action must be such a bound RegionPeer: the account root too
 * (root credentials are never given to another deployment; `hsmkms region add` refuses them).
 */
import type { Tag } from '../model.js';
import { REGION_RULE } from '../multi-region/model.js';
import { isPeerAction } from './role-table.js';

/** The principal tag that binds a RegionPeer to the region whose deployment calls with it. */
export const PEER_REGION_TAG = 'hsmkms:PeerRegion';
/** The request context key naming the region a peer-to-peer call acts for (the key's primary region). */
export const PEER_REGION_CONTEXT = 'hsmkms:PeerRegion';

/**
 * What a refusal of a RegionPeer bound to no region says (in its AccessDenied message), so that
 * the calling deployment tells it from a refusal for good: binding it is an operator's step the
 * caller waits for (a RegionPeer made before the binding existed), not a reason to give up.
 */
export const UNBOUND_PEER_REFUSAL = 'this RegionPeer is bound to no region';

/** The region a RegionPeer is bound to, if its tag names one. */
export function boundPeerRegion(roles: readonly string[], tags: readonly Tag[]): string | undefined {
  if (!roles.includes('RegionPeer')) return undefined;
  const value = tags.find((t) => t.TagKey === PEER_REGION_TAG)?.TagValue;
  return value !== undefined && value.length <= REGION_RULE.max && REGION_RULE.pattern.test(value) ? value : undefined;
}

/**
 * Why the caller may not make this peer-to-peer call (the end of an AccessDenied message), or
 * undefined when it may (or the action is not one of them).
 */
export function peerRegionRefusal(
  subject: { name: string; isRoot: boolean; roles: readonly string[]; tags: readonly Tag[] },
  action: string,
  requestContext: Readonly<Record<string, unknown>>,
): string | undefined {
  if (!isPeerAction(action)) return undefined;
  if (subject.isRoot)
    return 'because calls between regions are made with a RegionPeer principal bound to the calling region, never with the account root';
  const bound = boundPeerRegion(subject.roles, subject.tags);
  if (bound === undefined)
    return (
      `because ${UNBOUND_PEER_REFUSAL} (its principal tag ${PEER_REGION_TAG} names the region whose deployment calls with it). ` +
      `On this deployment run: hsmkms principal tag ${subject.name} --tag ${PEER_REGION_TAG}=REGION`
    );
  const actsFor = requestContext[PEER_REGION_CONTEXT];
  if (typeof actsFor === 'string' && actsFor !== bound)
    return `because the peer principal of ${bound} may not act for a key whose primary is in ${actsFor}; only that region's peer principal may`;
  return undefined;
}
