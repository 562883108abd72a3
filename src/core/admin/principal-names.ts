/**
 * The rules for what names a principal, a policy and a set of roles may be — pure, so the web
 * console checks them as you type with the same code and words as the service.
 */
import { KmsError } from '../errors.js';
import { PRINCIPAL_ROLES, type PrincipalRole } from '../model.js';
import { callerText } from '../caller-text.js';

/**
 * What the account root holds: every role but RegionPeer, which narrows a principal to the calls
 * between regions (the root is not subject to the role table anyway).
 */
export const ALL_ROLES: readonly PrincipalRole[] = PRINCIPAL_ROLES.filter((role) => role !== 'RegionPeer');

/** IAM's user-name rule. */
const USER_NAME = /^[\w+=,.@-]{1,64}$/;
/** IAM's policy-name rule. */
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

/** The user name in a principal ARN (`arn:aws:iam::<account>:user/<name>` → `<name>`), as the commands that take a principal name want it. */
export function userNameOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** A user name IAM would accept; ValidationException otherwise. */
export function checkUserName(name: string): string {
  return checkName('principal', name, USER_NAME, 64);
}

/** A policy name IAM would accept; ValidationException otherwise. */
export function checkPolicyName(name: string): string {
  return checkName('policy', name, POLICY_NAME, 128);
}

function checkName(what: string, name: string, pattern: RegExp, max: number): string {
  if (!pattern.test(name))
    throw new KmsError(
      'ValidationException',
      `Invalid ${what} name '${name.slice(0, 80)}': use 1 to ${max} letters, digits or the characters + = , . @ _ -`,
    );
  return name;
}

/**
 * Roles a principal may hold. CryptoOfficer and CryptoUser are not combined: separation of
 * duties is the point of having both (CloudHSM gives each user one type). RegionPeer combines
 * with nothing: the credentials another deployment keeps must open nothing but replication.
 */
export function checkRoles(roles: readonly string[]): PrincipalRole[] {
  const unknownRole = roles.find((role) => !(PRINCIPAL_ROLES as readonly string[]).includes(role));
  if (unknownRole !== undefined)
    throw new KmsError('ValidationException', `Unknown role '${callerText(String(unknownRole), 64)}': use one of ${PRINCIPAL_ROLES.join(', ')}.`);
  const unique = [...new Set(roles)] as PrincipalRole[];
  if (unique.includes('CryptoOfficer') && unique.includes('CryptoUser'))
    throw new KmsError(
      'ValidationException',
      'A principal cannot be both CryptoOfficer and CryptoUser: officers manage principals and never use keys. Create two principals.',
    );
  if (unique.includes('RegionPeer') && unique.length > 1)
    throw new KmsError(
      'ValidationException',
      'RegionPeer is held alone: it is the principal another region\'s deployment calls this one with, and may do nothing else. Create two principals.',
    );
  return unique.sort();
}
