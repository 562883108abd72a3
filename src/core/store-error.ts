/**
 * What a metadata store reports in the core's own terms: a duplicate (`conflict`) or a missing
 * row (`not-found`), and which record. Stores throw these instead of client-facing errors;
 * {@link kmsErrorFromStore} gives them AWS's names and wording.
 */
import { KmsError } from './errors.js';

export type StoreErrorKind = 'conflict' | 'not-found';

/** The kinds of record a store keeps. */
export type StoreRecord =
  | 'key'
  | 'key-version'
  | 'alias'
  | 'principal'
  | 'access-key'
  | 'import-token'
  | 'grant'
  | 'approval-request'
  | 'custom-key-store'
  | 'custom-key-store-key'
  | 'xks-credential'
  | 'certificate-authority'
  | 'certificate'
  | 'multi-region-key'
  | 'transport-key'
  | 'material-destruction';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    readonly record: StoreRecord,
    /** The record's name for people: an ARN where it has one, its id otherwise. */
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    super(`${record} ${subject}: ${kind === 'conflict' ? 'already exists' : 'not found'}`, options);
    this.name = 'StoreError';
  }
}

const NOUN: Record<StoreRecord, string> = {
  key: 'A key with the ARN',
  'key-version': 'Key material',
  alias: 'An alias with the name',
  principal: 'A principal with the ARN',
  'access-key': 'An access key with the id',
  'import-token': 'An import token with the id',
  grant: 'A grant with the id',
  'approval-request': 'An approval request with the id',
  'custom-key-store': 'A custom key store with the id, name or cluster of',
  'custom-key-store-key': 'A key or external key binding of',
  'xks-credential': 'An XKS credential with the access key id',
  'certificate-authority': 'A certificate authority named',
  certificate: 'A certificate with the CA and serial',
  'multi-region-key': 'A multi-Region key with the id',
  'transport-key': 'A replica transport key with the id',
  'material-destruction': 'A destruction of key material',
};

/** The KmsError a client sees for a store conflict or a missing record (AWS's wording where AWS has one). */
export function kmsErrorFromStore(error: StoreError): KmsError {
  if (error.kind === 'conflict') {
    // AWS's own sentence for CreateAlias names the alias ARN and has no full stop.
    if (error.record === 'alias') return new KmsError('AlreadyExistsException', `An alias with the name ${error.subject} already exists`, { cause: error });
    return new KmsError('AlreadyExistsException', `${NOUN[error.record]} ${error.subject} already exists.`, { cause: error });
  }
  if (error.record === 'alias') return new KmsError('NotFoundException', `Alias ${error.subject} is not found.`, { cause: error });
  if (error.record === 'key') return new KmsError('NotFoundException', `Key '${error.subject}' does not exist`, { cause: error });
  return new KmsError('NotFoundException', `${NOUN[error.record]} ${error.subject} does not exist.`, { cause: error });
}

/**
 * The store could not be reached or did not answer in time (a database restarting, a network
 * fault, a statement timeout). Clients get a retryable error: DependencyTimeoutException when
 * it was a timeout, KMSInternalException otherwise ({@link kmsErrorFromUnavailableStore}).
 */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    /** True when the store did not answer in time (as opposed to refusing or dropping the connection). */
    readonly timeout: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** The retryable error a client sees while the store is unreachable (its detail goes to logs only). */
export function kmsErrorFromUnavailableStore(error: StoreUnavailableError): KmsError {
  if (error.timeout)
    return new KmsError('DependencyTimeoutException', 'The metadata store did not answer in time. Try again later.', { cause: error });
  return new KmsError('KMSInternalException', 'The metadata store is unavailable. Try again later.', { cause: error });
}
