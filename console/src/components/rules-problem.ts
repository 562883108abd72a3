/** Checking input with the service's own rules (pure server modules that throw KmsError). */
import { KmsError } from '../../../src/core/errors.js';

/** The message of the KmsError a server-side rule throws, or undefined when it passes. */
export function rulesProblem(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof KmsError) return error.message;
    throw error;
  }
}
