/**
 * `hsmkms xks …`: hsmkms as an XKS proxy for AWS KMS — the SigV4 credentials AWS KMS signs
 * with (per URI path prefix, two at a time for rotation) and the AES-256 keys it may use.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { openServices, openXksKeys } from '../app.js';
import { ConfigError } from '../config/hsm.js';
import { KmsError } from '../core/errors.js';
import { createXksCredential, xksProxyUriPath } from '../xks/credentials.js';
import { XksKeyError } from '../xks/service.js';
import { XKS_KEY_ID } from '../xks/requests.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addStoreOptions, storeConfigFrom, type StoreCliOptions } from './store-options.js';
import { progress } from './service-options.js';

const USAGES: Readonly<Record<string, { encrypt: boolean; decrypt: boolean }>> = {
  'ENCRYPT,DECRYPT': { encrypt: true, decrypt: true },
  'DECRYPT,ENCRYPT': { encrypt: true, decrypt: true },
  ENCRYPT: { encrypt: true, decrypt: false },
  DECRYPT: { encrypt: false, decrypt: true },
  NONE: { encrypt: false, decrypt: false },
};

export function xksCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const xks = new Command('xks');

  const credential = new Command('credential').description('SigV4 credentials AWS KMS uses to call this XKS proxy (XksProxyAuthenticationCredential).');
  const create = withStoreOptions(
    new Command('create')
      .description(
        'Create a credential; prints {"uriPrefix","accessKeyId","secretAccessKey"}. Without --uri-prefix a new prefix is chosen; ' +
          'give an existing prefix to add its second credential (for rotation). AWS KMS: XksProxyUriPath is /<uriPrefix>/kms/xks/v1.',
      )
      .option('--uri-prefix <prefix>', 'URI path prefix of the logical key store, e.g. tenant/a'),
  );
  create.action(async (options: StoreCommandOptions & { uriPrefix?: string }) =>
    withStore(options, async ({ store, backend }) => {
      const created = await createXksCredential(store, backend, options.uriPrefix ?? `keystores/${randomUUID()}`, new Date());
      process.stdout.write(`${JSON.stringify(created)}\n`);
      progress(`AWS KMS XksProxyUriPath: ${xksProxyUriPath(created.uriPrefix)}`);
    }),
  );
  const list = withStoreOptions(new Command('list').description('List credentials as JSON lines (no secrets).'));
  list.action(async (options: StoreCommandOptions) =>
    withStore(options, async ({ store }) => {
      for (const c of await store.keyStores.listXksCredentials())
        process.stdout.write(`${JSON.stringify({ uriPrefix: c.uriPrefix, xksProxyUriPath: xksProxyUriPath(c.uriPrefix), accessKeyId: c.accessKeyId, createdAt: c.createdAt.toISOString() })}\n`);
    }),
  );
  const remove = withStoreOptions(new Command('delete').description('Delete a credential (it stops working within 30 seconds; at once on nodes sharing a PostgreSQL store).').requiredOption('--access-key-id <id>', 'the credential to delete'));
  remove.action(async (options: StoreCommandOptions & { accessKeyId: string }) =>
    withStore(options, async ({ store }) => {
      if (!(await store.keyStores.deleteXksCredential(options.accessKeyId))) throw new ConfigError(`No XKS credential has the access key id ${options.accessKeyId}.`);
      progress(`deleted ${options.accessKeyId}`);
    }),
  );
  credential.addCommand(create).addCommand(list).addCommand(remove);

  const key = new Command('key').description('AES-256 keys in the HSM token that AWS KMS may use as external keys (XksKeyId = label).');
  const keyCreate = addHsmOptions(
    new Command('create')
      .description('Generate an AES-256 key in the token (sensitive, never extractable) labelled with its external key id.')
      .requiredOption('--label <id>', 'the external key id (1–128 of A-Z a-z 0-9 . _ -)')
      .addOption(new Option('--usage <usage>', 'what the key may do').choices(Object.keys(USAGES)).default('ENCRYPT,DECRYPT'))
      .option('--cluster <id>', 'create it in this cluster\'s token (serve it with hsmkms serve --xks-cluster <id>)'),
  );
  keyCreate.action(async (options: HsmCliOptions & { label: string; usage: string; cluster?: string }) => {
    if (!XKS_KEY_ID.test(options.label)) throw new ConfigError('--label must be 1–128 characters of A-Z a-z 0-9 . _ -.');
    await withKeys(options, async (keys) => {
      try {
        await keys.create(options.label, USAGES[options.usage]!);
      } catch (error) {
        if (error instanceof XksKeyError) throw new ConfigError(error.message);
        throw error;
      }
      process.stdout.write(`${JSON.stringify({ keyId: options.label, keySpec: 'AES_256', usage: options.usage.split(',') })}\n`);
    });
  });
  const keyList = addHsmOptions(new Command('list').description('List the AES keys in the token as JSON lines.').option('--cluster <id>', 'list this cluster\'s token'));
  keyList.action(async (options: HsmCliOptions & { cluster?: string }) =>
    withKeys(options, async (keys) => {
      for (const info of await keys.list()) {
        if (!info.aes) continue;
        const usage = Object.entries(info.usage)
          .filter(([, allowed]) => allowed)
          .map(([name]) => name.toUpperCase());
        process.stdout.write(`${JSON.stringify({ keyId: info.label, keySpec: `AES_${info.length * 8}`, keyUsage: usage })}\n`);
      }
    }),
  );
  key.addCommand(keyCreate).addCommand(keyList);

  return xks.addCommand(credential).addCommand(key);
}

type StoreCommandOptions = HsmCliOptions & StoreCliOptions;

const withStoreOptions = (command: Command): Command => addStoreOptions(addHsmOptions(command));

async function withStore(options: StoreCommandOptions, fn: (services: Awaited<ReturnType<typeof openServices>>) => Promise<void>): Promise<void> {
  const store = storeConfigFrom(options);
  const hsm = await resolveHsmConfig(options, progress);
  // The HSM and store code loads only now, not for --help (see main.ts).
  const { openServices, quietLogger } = await import('../app.js');
  const services = await openServices(resolve(options.dataDir), hsm, quietLogger(), store);
  try {
    await fn(services);
  } catch (error) {
    if (error instanceof KmsError) throw new ConfigError(error.message);
    throw error;
  } finally {
    await services.close();
  }
}

async function withKeys(options: HsmCliOptions & { cluster?: string }, fn: (keys: Awaited<ReturnType<typeof openXksKeys>>) => Promise<void>): Promise<void> {
  const hsm = await resolveHsmConfig(options, progress);
  const [{ openXksKeys }, { SOFTHSM2_MODULE }, { parseClusterList }] = await Promise.all([
    import('../app.js'),
    import('../backend/pkcs11/embedded-token.js'),
    import('../backend/pkcs11/cluster-tokens.js'),
  ]);
  const clusters = { configured: parseClusterList(process.env.HSMKMS_CLUSTERS), embeddedModule: options.module ? undefined : SOFTHSM2_MODULE };
  const keys = await openXksKeys({ hsm, clusters, xksCluster: options.cluster }, resolve(options.dataDir));
  try {
    await fn(keys);
  } finally {
    await keys.close();
  }
}

