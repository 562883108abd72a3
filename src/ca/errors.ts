/**
 * Errors the CA means people (and later API clients) to see. Names follow AWS Private CA's
 * exceptions, so the `HsmKms.*` operations can put them on the wire unchanged.
 */
import { callerText } from '../core/caller-text.js';

export type CaErrorName =
  | 'InvalidArgsException'
  | 'MalformedCSRException'
  | 'ResourceNotFoundException'
  | 'ResourceAlreadyExistsException'
  | 'RequestAlreadyProcessedException'
  | 'InvalidStateException'
  | 'RequestFailedException'
  | 'ThrottlingException';

const STATUS: Record<CaErrorName, number> = {
  InvalidArgsException: 400,
  MalformedCSRException: 400,
  ResourceNotFoundException: 404,
  ResourceAlreadyExistsException: 409,
  RequestAlreadyProcessedException: 409,
  InvalidStateException: 409,
  RequestFailedException: 502,
  ThrottlingException: 503,
};

/** One line, safe to show: no key material, no stack, no secrets. */
export class CaError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly type: CaErrorName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CaError';
    this.httpStatus = STATUS[type];
  }
}

/** The same wording everywhere a CA name does not resolve. */
export function unknownCa(name: string): CaError {
  return new CaError('ResourceNotFoundException', `No CA named '${callerText(name, 64)}'. Create it with \`hsmkms ca init --name ${callerText(name, 64)} …\`.`);
}
