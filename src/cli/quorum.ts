/**
 * `hsmkms quorum list|get|approve|reject`: approvers act on pending approval requests with their
 * own credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_REGION) against a running
 * server. There is no offline mode: an approval is a principal's consent, and the data
 * directory's operator is nobody's principal.
 */
import { Command, Option } from 'commander';
import { HsmKmsClient, HsmKmsError, credentialsFromEnv, regionFromEnv } from '../client/hsmkms-client.js';
import { ConfigError } from '../config/hsm.js';
import type { JsonObject } from '../core/operation.js';
import { jsonLine, printable } from './output.js';
import { readFileSync, statSync } from 'node:fs';
import { callHash } from '../core/quorum/call-hash.js';

interface QuorumCliOptions {
  endpoint?: string;
  region: string;
  json?: boolean;
}

function withCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--endpoint <url>', 'the hsmkms server, e.g. http://127.0.0.1:7600').env('HSMKMS_ENDPOINT'))
    .addOption(new Option('--region <region>', 'SigV4 region when AWS_REGION is not set').default('us-east-1'))
    .option('--json', 'print the service’s JSON answer');
}

async function call(options: QuorumCliOptions, operation: string, input: JsonObject): Promise<JsonObject> {
  if (!options.endpoint) throw new ConfigError('Give the server with --endpoint URL (or HSMKMS_ENDPOINT).');
  let client: HsmKmsClient;
  try {
    client = new HsmKmsClient({ endpoint: options.endpoint, region: regionFromEnv(options.region), credentials: credentialsFromEnv() });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  try {
    return await client.call(operation, input);
  } catch (error) {
    if (error instanceof HsmKmsError) throw new ConfigError(`${error.name}: ${error.message}`);
    throw new ConfigError(`cannot reach ${options.endpoint}: ${(error as Error).message}`);
  }
}

type View = {
  ApprovalRequestId: string;
  Status: string;
  Requester: string;
  Operation: string;
  Action: string;
  KeyId?: string;
  Parameters: unknown;
  WithheldParameters?: string[];
  ParametersHash: string;
  HashedKeyArns?: string[];
  Rules: Array<{ RuleId: string; MinApprovals: number; Approvals: string[] }>;
  ExpirationDate: number;
};

function line(view: View): string {
  const progress = view.Rules.map((r) => `${r.Approvals.length}/${r.MinApprovals} ${r.RuleId}`).join(', ');
  const expires = new Date(view.ExpirationDate * 1000).toISOString();
  return `${printable(`${view.ApprovalRequestId}  ${view.Status.padEnd(8)}  ${view.Operation}${view.KeyId ? ` ${view.KeyId}` : ''}  by ${view.Requester}  [${progress}]  expires ${expires}`)}\n`;
}

/** The request and what its approval covers: the action, the parameters, those not shown, the call hash. */
function details(view: View): string {
  // JSON escapes C0 controls, not C1 or bidirectional ones: an approver must see the call as it is.
  const withheld = view.WithheldParameters?.length
    ? `  not shown, but covered by the hash: ${printable(view.WithheldParameters.join(', '))} (check them with --call FILE)\n`
    : '';
  return (
    `${line(view)}  action: ${printable(view.Action)}\n  parameters: ${printable(JSON.stringify(view.Parameters))}\n${withheld}` +
    `  call hash: ${printable(view.ParametersHash)} (SHA-256 of the requester, operation, keys and parameters)\n`
  );
}

/** Largest request file `--call` reads: KMS requests are far smaller. */
const MAX_CALL_FILE_BYTES = 1 << 20;

/**
 * Whether the call in `file` (the request JSON the requester will send, as it sent it) is the
 * one `view` approves: its hash is computed here, from the requester, operation and keys the
 * request names, not taken from the server's word.
 */
function checkCall(view: View, file: string): string {
  let input: unknown;
  try {
    if (statSync(file).size > MAX_CALL_FILE_BYTES) throw new Error(`larger than ${MAX_CALL_FILE_BYTES} bytes`);
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--call ${file}: not a readable JSON request (${(error as Error).message})`);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(`--call ${file}: the request must be a JSON object.`);
  const keyArn = view.HashedKeyArns?.join(',') ?? view.KeyId;
  const hash = callHash({ callerArn: view.Requester, operation: view.Operation, keyArn, input: input as JsonObject });
  if (hash !== view.ParametersHash)
    throw new ConfigError(`the call in ${file} is NOT the call ${view.ApprovalRequestId} approves (its hash is ${hash}, the request's ${view.ParametersHash}).`);
  return `the call in ${file} is the call ${view.ApprovalRequestId} approves (hash ${hash}).\n`;
}

export function quorumCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const quorum = new Command('quorum');

  const list = withCommonOptions(new Command('list').description('List approval requests you may see (newest first).'))
    .addOption(new Option('--status <status>', 'only requests in this status').choices(['Pending', 'Approved', 'Rejected', 'Consumed', 'Expired']))
    .action(async (options: QuorumCliOptions & { status?: string }) => {
      const requests: View[] = [];
      let marker: string | undefined;
      // Every page, bounded: a few thousand open requests at most in practice.
      for (let page = 0; page < 100; page++) {
        const out = await call(options, 'ListApprovalRequests', { Limit: 100, ...(options.status ? { Status: options.status } : {}), ...(marker ? { Marker: marker } : {}) });
        requests.push(...(out.ApprovalRequests as View[]));
        marker = out.NextMarker as string | undefined;
        if (!marker) break;
      }
      if (options.json) process.stdout.write(jsonLine({ ApprovalRequests: requests }, 2));
      else if (requests.length === 0) process.stdout.write('no approval requests\n');
      else for (const view of requests) process.stdout.write(details(view));
    });

  const get = withCommonOptions(new Command('get').description('Show one approval request, with the parameters of the call it would allow.'))
    .argument('<approval-request-id>')
    .option('--call <file>', 'check that the request JSON in this file (as its requester will send it) is the call the request approves')
    .action(async (id: string, options: QuorumCliOptions & { call?: string }) => {
      const out = await call(options, 'GetApprovalRequest', { ApprovalRequestId: id });
      process.stdout.write(options.json ? jsonLine(out, 2) : details(out.ApprovalRequest as View));
      if (options.call !== undefined) process.stdout.write(checkCall(out.ApprovalRequest as View, options.call));
    });

  const vote = (name: 'approve' | 'reject', operation: string, description: string) =>
    withCommonOptions(new Command(name).description(description))
      .argument('<approval-request-id>')
      .action(async (id: string, options: QuorumCliOptions) => {
        const out = await call(options, operation, { ApprovalRequestId: id });
        process.stdout.write(options.json ? jsonLine(out, 2) : details(out.ApprovalRequest as View));
      });

  return quorum
    .addCommand(list)
    .addCommand(get)
    .addCommand(vote('approve', 'ApproveRequest', 'Approve a request: once enough approvers have, its requester may repeat the call once.'))
    .addCommand(vote('reject', 'RejectRequest', 'Reject a request (or withdraw your own); it is closed for good.'));
}
