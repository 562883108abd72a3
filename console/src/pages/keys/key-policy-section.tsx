/**
 * The key policy, edited in place: validated as you type with the server's own parser and
 * lockout check, saved with PutKeyPolicy (which may itself need quorum approval).
 */
import { useEffect, useMemo, useState, type ReactElement } from 'react';
import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { ErrorAlert } from '../../components/error-alert.js';
import { Section } from '../../components/page.js';
import { checkPolicy, PolicyEditor } from '../../components/policy-editor.js';
import { printableJson } from '../../../../src/core/caller-text.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { policyCaller, useSession } from '../../session/session.js';

/**
 * Policies as the service stores them are often one line; people read them indented. Controls in a
 * string (a Sid, a condition value) are shown as JSON escapes: the same policy, read safely.
 */
function pretty(text: string): string {
  try {
    return printableJson(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    return text;
  }
}

export function KeyPolicySection({ keyId, onSaved }: { keyId: string; onSaved: () => void }): ReactElement {
  const session = useSession();
  const { kms } = session;
  const caller = useMemo(() => policyCaller(session), [session]);
  const stored = useLoad(async () => pretty((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }))).Policy ?? ''), [kms, keyId]);
  const [draft, setDraft] = useState<string>();
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => {
    if (stored.status === 'done') setDraft(stored.data);
  }, [stored.status, stored.data]);

  const text = draft ?? '';
  const changed = stored.status === 'done' && text !== stored.data;
  const valid = checkPolicy(text, 'resource', caller).ok;

  const save = async () => {
    setSaved(false);
    const done = await action.run(async () => {
      await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: text }));
      return true;
    });
    if (done) {
      setSaved(true);
      stored.reload();
      onSaved();
    }
  };

  return (
    <Section id="policy" title="Key policy">
      {stored.status === 'loading' ? <Progress label="Loading the key policy…" /> : null}
      <ErrorAlert error={stored.error} context="The key policy could not be read." />
      {stored.status === 'done' ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (changed && valid) void save();
          }}
        >
          <PolicyEditor
            label="Key policy document (JSON)"
            value={text}
            onChange={(next) => {
              setDraft(next);
              setSaved(false);
            }}
            kind="resource"
            caller={caller}
          />
          <ErrorAlert error={action.error} context="The key policy was not saved." />
          {action.busy ? <Progress label="Saving the key policy…" /> : null}
          {saved && !changed ? (
            <p className="status-ok" role="status">
              Key policy saved. It applies from the next request.
            </p>
          ) : null}
          <div className="button-row">
            <button type="submit" className="button-primary" disabled={!changed || !valid || action.busy}>
              Save key policy
            </button>
            <button type="button" disabled={!changed || action.busy} onClick={() => setDraft(stored.data)}>
              Discard changes
            </button>
          </div>
        </form>
      ) : null}
    </Section>
  );
}
