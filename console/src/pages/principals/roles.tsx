/** Role checkboxes, and what each role means (as the server's role table decides). */
import { useId, type ReactElement } from 'react';
import { PRINCIPAL_ROLES, type PrincipalRole } from '../../../../src/core/model.js';

export { rulesProblem } from '../../components/rules-problem.js';

export const ROLE_MEANING: Record<PrincipalRole, string> = {
  CryptoOfficer: 'manages principals, roles, identity policies and quorum rules; never uses a key',
  CryptoUser: 'creates keys, uses and shares them as policies and grants allow',
  Auditor: 'reads key metadata, principals and the audit trail; nothing else',
  RegionPeer: 'another region’s hsmkms deployment replicating multi-Region keys here; nothing else, held alone',
};

export function RolePicker({
  value,
  onChange,
  legend,
  disabled,
  problem,
}: {
  value: PrincipalRole[];
  onChange: (roles: PrincipalRole[]) => void;
  legend: string;
  disabled?: boolean;
  /** Why this combination is refused (the server's words), shown under the boxes. */
  problem?: string | undefined;
}): ReactElement {
  const id = useId();
  return (
    <fieldset className="field roles" disabled={disabled}>
      <legend>{legend}</legend>
      {PRINCIPAL_ROLES.map((role) => (
        <div className="field-check" key={role}>
          <input
            id={`${id}-${role}`}
            type="checkbox"
            checked={value.includes(role)}
            onChange={(e) => onChange(e.target.checked ? [...value, role] : value.filter((r) => r !== role))}
            aria-describedby={`${id}-${role}-hint`}
          />
          <label htmlFor={`${id}-${role}`}>{role}</label>
          <span id={`${id}-${role}-hint`} className="hint">
            {ROLE_MEANING[role]}
          </span>
        </div>
      ))}
      {problem ? (
        <p className="hint status-error" role="alert">
          {problem}
        </p>
      ) : null}
    </fieldset>
  );
}
