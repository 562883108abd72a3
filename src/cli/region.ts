/**
 * `hsmkms region …`: the other regions' hsmkms deployments this one replicates multi-Region keys
 * to. Each peer is reached at its endpoint with the credentials of a principal of the peer
 * deployment, read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never argv) and stored with
 * the secret sealed by this deployment's HSM. The peer's roles and policies decide what that
 * principal may do there: it must be a RegionPeer there bound to this region (`hsmkms principal
 * create NAME --role RegionPeer --tag hsmkms:PeerRegion=THIS-REGION`), the one role the
 * peer-to-peer operations are for, which can do nothing else — never the root, whose credentials
 * another deployment must not hold (refused, and refused by the peer for those calls anyway).
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { openServices, quietLogger } from '../app.js';
import { credentialsFromEnv, HsmKmsClient, HsmKmsError } from '../client/hsmkms-client.js';
import { ConfigError } from '../config/hsm.js';
import { userNameOf } from '../core/admin/principal-names.js';
import { PEER_REGION_TAG } from '../core/authorization/peer-region.js';
import { REGION_RULE } from '../core/multi-region/model.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { jsonLine } from './output.js';
import { progress } from './service-options.js';

/** `https://…`, or `http://` to this machine only (secrets and material never cross a network in clear). */
export function checkPeerEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`--endpoint must be a URL such as https://kms.eu-west-1.example, got '${value}'.`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new ConfigError('--endpoint must be https://…; plain http:// is accepted only for a loopback address.');
  if (url.username || url.password || url.search || url.hash) throw new ConfigError('--endpoint must not carry credentials, a query or a fragment.');
  return url.origin + (url.pathname === '/' ? '' : url.pathname);
}

function checkRegionName(name: string): string {
  if (name.length > REGION_RULE.max || !REGION_RULE.pattern.test(name)) throw new ConfigError(`NAME must be a region id such as eu-west-1, got '${name}'.`);
  return name;
}

export function regionCommand(): Command {
  const region = new Command('region').description('Other regions (hsmkms deployments) that multi-Region keys are replicated to.');

  const add = addHsmOptions(
    new Command('add')
      .description(
        'Register (or replace) the deployment serving region NAME. Credentials of a principal there come from AWS_ACCESS_KEY_ID and ' +
          'AWS_SECRET_ACCESS_KEY; the secret is stored sealed by this HSM. The peer is called once (GetCallerIdentity) to check them.',
      )
      .argument('<name>', 'the peer\'s --region, e.g. eu-west-1')
      .requiredOption('--endpoint <url>', 'the peer\'s API endpoint, https:// (http:// only to a loopback address)')
      .option('--no-check', 'store the peer without calling it first'),
  );
  add.action(async (name: string, options: HsmCliOptions & { endpoint: string; check: boolean }) => {
    const regionName = checkRegionName(name);
    const endpoint = checkPeerEndpoint(options.endpoint);
    let credentials;
    try {
      credentials = credentialsFromEnv();
    } catch {
      throw new ConfigError('Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the credentials of a principal of the peer deployment.');
    }
    let peerArn: string | undefined;
    let peerRegion: string | undefined;
    if (options.check) {
      let who;
      try {
        who = await new HsmKmsClient({ endpoint, region: regionName, credentials, timeoutMs: 15_000 }).call('GetCallerIdentity');
      } catch (error) {
        const why = error instanceof HsmKmsError ? `${error.name}: ${error.message}` : (error as Error).message;
        throw new ConfigError(`The peer at ${endpoint} did not accept these credentials for region ${regionName} (${why}). Use --no-check to store it anyway.`);
      }
      peerArn = String(who.Arn);
      const peerRoles = Array.isArray(who.Roles) ? who.Roles.map(String) : [];
      peerRegion = typeof who.PeerRegion === 'string' ? who.PeerRegion : undefined;
      // Checked before anything is stored: that deployment would refuse every replication call.
      // The root credentials of another deployment are never kept here: whoever reads this data
      // directory and HSM could then do anything there, and the peer refuses them anyway.
      const create = `hsmkms principal create replicator-THIS-REGION --role RegionPeer --tag ${PEER_REGION_TAG}=THIS-REGION`;
      if (who.Root === true)
        throw new ConfigError(
          `These are the root credentials of region ${regionName}'s deployment: a region peer is given a principal that can do nothing but replicate, never the root. ` +
            `On that deployment run: ${create} (THIS-REGION: this deployment's --region), then pass its access key.`,
        );
      if (!peerRoles.includes('RegionPeer'))
        throw new ConfigError(
          `The peer principal ${peerArn} holds ${peerRoles.join(', ') || 'no role'} in region ${regionName}; replication needs the RegionPeer role there. ` +
            `On that deployment run: hsmkms principal set-roles ${userNameOf(peerArn)} --role RegionPeer`,
        );
      if (peerRegion === undefined)
        throw new ConfigError(
          `The peer principal ${peerArn} in region ${regionName} is bound to no region, so that deployment refuses its replication calls. ` +
            `On that deployment run: hsmkms principal tag ${userNameOf(peerArn)} --tag ${PEER_REGION_TAG}=THIS-REGION (this deployment's --region).`,
        );
    }
    await withServices(options, async ({ store, backend }) => {
      const sealedSecret = await backend.sealSecret(Buffer.from(credentials.secretAccessKey, 'utf8'));
      await store.multiRegion.putRegionPeer({ region: regionName, endpoint, accessKeyId: credentials.accessKeyId, sealedSecret, createdAt: new Date() });
      // Work that waited for this region (a replica Creating, an Updating key) is tried again on the next scheduler pass.
      await store.multiRegion.retryReplicationJobs(new Date(), regionName);
    });
    // The peer chose its principal's ARN and region: shown as jsonLine shows any text (escaped controls).
    process.stdout.write(jsonLine({ region: regionName, endpoint, accessKeyId: credentials.accessKeyId, ...(peerArn ? { peerPrincipal: peerArn } : {}), ...(peerRegion ? { peerRegion } : {}) }));
  });

  const list = addHsmOptions(new Command('list').description('List the region peers as JSON lines (no secrets).'));
  list.action(async (options: HsmCliOptions) =>
    withServices(options, async ({ store }) => {
      for (const peer of await store.multiRegion.listRegionPeers())
        process.stdout.write(jsonLine({ region: peer.region, endpoint: peer.endpoint, accessKeyId: peer.accessKeyId, createdAt: peer.createdAt.toISOString() }));
    }),
  );

  const remove = addHsmOptions(new Command('remove').description('Forget the peer of region NAME (its replicas stay where they are).').argument('<name>', 'region id'));
  remove.action(async (name: string, options: HsmCliOptions) =>
    withServices(options, async ({ store }) => {
      if (!(await store.multiRegion.deleteRegionPeer(checkRegionName(name)))) throw new ConfigError(`No region peer is registered for ${name}.`);
      progress(`removed ${name}`);
    }),
  );

  return region.addCommand(add).addCommand(list).addCommand(remove);
}

async function withServices(options: HsmCliOptions, fn: (services: Awaited<ReturnType<typeof openServices>>) => Promise<void>): Promise<void> {
  const hsm = await resolveHsmConfig(options, progress);
  const services = await openServices(resolve(options.dataDir), hsm, quietLogger());
  try {
    await fn(services);
  } finally {
    await services.close();
  }
}
