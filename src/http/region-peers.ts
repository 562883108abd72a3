/**
 * {@link RegionPeers} over HTTP: signed `HsmKms.*` calls to the hsmkms deployments registered as
 * region peers (`hsmkms region add`), with the peer principal's credentials unsealed by this
 * deployment's HSM for each call (never kept in memory between calls, never logged).
 */
import { HsmKmsClient, HsmKmsError } from '../client/hsmkms-client.js';
import type { JsonObject } from '../core/operation.js';
import { PeerError, type RegionPeers } from '../core/multi-region/ports.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';

export interface RegionPeersOptions {
  store: MetadataStore;
  backend: KeyBackend;
  /** Per call; default 30 s. */
  timeoutMs?: number | undefined;
}

export function createHttpRegionPeers({ store, backend, timeoutMs = 30_000 }: RegionPeersOptions): RegionPeers {
  return {
    async has(region) {
      return (await store.multiRegion.getRegionPeer(region)) !== undefined;
    },
    async call(region, operation, input): Promise<JsonObject> {
      const peer = await store.multiRegion.getRegionPeer(region);
      if (!peer) throw new PeerError('PeerNotRegistered', `No region peer is registered for ${region}; add one with hsmkms region add ${region} --endpoint URL.`, 0);
      const secretAccessKey = (await backend.unsealSecret(peer.sealedSecret)).toString('utf8');
      const client = new HsmKmsClient({ endpoint: peer.endpoint, region, credentials: { accessKeyId: peer.accessKeyId, secretAccessKey }, timeoutMs });
      try {
        return await client.call(operation, input);
      } catch (error) {
        if (error instanceof HsmKmsError) {
          const type = error.name === 'SerializationException' && error.status < 400 ? 'PeerInvalidResponse' : error.name;
          throw new PeerError(type, error.message, error.status);
        }
        throw new PeerError('PeerUnreachable', `The hsmkms deployment of ${region} at ${peer.endpoint} did not answer: ${(error as Error).message}`, 0);
      }
    },
  };
}
