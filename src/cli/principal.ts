/** `hsmkms principal …`: the identities that may call the API, and their access keys. */
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { openServices, quietLogger } from '../app.js';
import { createPrincipal } from '../auth/principals.js';
import type { PrincipalRole } from '../core/model.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';

type PrincipalOptions = HsmCliOptions & ServiceCliOptions;

export function principalCommand(): Command {
  const principal = new Command('principal').description('Manage the principals (IAM-style users) that may call the API.');

  const create = new Command('create')
    .description('Create a principal and an access key; prints {"arn","accessKeyId","secretAccessKey"} as JSON.')
    .argument('<name>', 'user name (1–64 of letters, digits and +=,.@_-)')
    .addOption(
      new Option('--role <role...>', 'roles (default: CryptoUser)').choices(['CryptoOfficer', 'CryptoUser', 'Auditor']),
    );
  addServiceOptions(addHsmOptions(create)).action(async (name: string, options: PrincipalOptions & { role?: PrincipalRole[] }) => {
    await withServices(options, async ({ backend, store }) => {
      const created = await createPrincipal(store, backend, settingsFrom(options), name, options.role ?? ['CryptoUser']);
      process.stdout.write(`${JSON.stringify(created)}\n`);
    });
  });

  const list = new Command('list').description('List principals as JSON lines (no secrets).');
  addServiceOptions(addHsmOptions(list)).action(async (options: PrincipalOptions) => {
    await withServices(options, async ({ store }) => {
      for (const p of await store.listPrincipals())
        process.stdout.write(`${JSON.stringify({ arn: p.arn, name: p.name, roles: p.roles, createdAt: p.createdAt.toISOString() })}\n`);
    });
  });

  return principal.addCommand(create).addCommand(list);
}

async function withServices(
  options: PrincipalOptions,
  fn: (services: Awaited<ReturnType<typeof openServices>>) => Promise<void>,
): Promise<void> {
  const hsm = await resolveHsmConfig(options, progress);
  const services = await openServices(resolve(options.dataDir), hsm, quietLogger());
  try {
    await fn(services);
  } finally {
    await services.close();
  }
}
