/**
 * A key's tags: listed, set (TagResource adds a tag or replaces its value) and removed
 * (UntagResource, confirmed), each checked as it is typed with the service's own limits.
 */
import { useId, useRef, useState, type FormEvent, type ReactElement } from 'react';
import { ListResourceTagsCommand, TagResourceCommand, UntagResourceCommand, type Tag } from '@aws-sdk/client-kms';
import { checkTag, MAX_TAGS_PER_KEY, TAG_KEY_MAX_LENGTH, TAG_VALUE_MAX_LENGTH } from '../../../../src/core/operations/tag-names.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Part } from '../../components/loaded-part.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { rulesProblem } from '../../components/rules-problem.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

export function KeyTagsSection({ keyId, manage }: { keyId: string; manage: boolean }): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const keyInput = useRef<HTMLInputElement>(null);
  const tags = useLoad(async () => (await kms.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: MAX_TAGS_PER_KEY }))).Tags ?? [], [kms, keyId]);
  const [tagKey, setTagKey] = useState('');
  const [tagValue, setTagValue] = useState('');
  const [removing, setRemoving] = useState<string>();
  const [note, setNote] = useState<string>();
  const save = useAction();
  const remove = useAction();

  const existing = tags.data ?? [];
  const replaces = existing.some((t) => t.TagKey === tagKey);
  const problem =
    tagKey === ''
      ? undefined
      : (rulesProblem(() => checkTag(tagKey, tagValue)) ??
        (!replaces && existing.length >= MAX_TAGS_PER_KEY ? `A KMS key can have at most ${MAX_TAGS_PER_KEY} tags; remove one first.` : undefined));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem || tagKey === '') return;
    const done = await save.run(() => kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: tagKey, TagValue: tagValue }] })));
    if (done) {
      setNote(replaces ? `Tag ${tagKey} now has the value “${tagValue}”.` : `Tag ${tagKey} is added.`);
      setTagKey('');
      setTagValue('');
      tags.reload();
    }
  };
  const edit = (tag: Tag) => {
    setTagKey(tag.TagKey ?? '');
    setTagValue(tag.TagValue ?? '');
    setNote(undefined);
    keyInput.current?.focus();
  };
  const confirmRemove = async () => {
    if (removing === undefined) return;
    const done = await remove.run(() => kms.send(new UntagResourceCommand({ KeyId: keyId, TagKeys: [removing] })));
    if (done) {
      setNote(`Tag ${removing} is removed.`);
      setRemoving(undefined);
      tags.reload();
    }
  };

  return (
    <Section id="tags" title="Tags">
      <Part loaded={tags} what="tags">
        {(list) =>
          list.length === 0 ? (
            <p className="muted">No tags.</p>
          ) : (
            <table className="table table-cards" aria-label="Tags">
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Value</th>
                  {manage ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {list.map((t) => (
                  <tr key={t.TagKey}>
                    <th scope="row" data-label="Key">
                      {t.TagKey}
                    </th>
                    <td data-label="Value">{t.TagValue || <span className="muted">(empty)</span>}</td>
                    {manage ? (
                      <td data-label="Actions">
                        <div className="button-row">
                          <button type="button" className="button-small" aria-label={`Change tag ${t.TagKey}`} onClick={() => edit(t)}>
                            Change
                          </button>
                          <button
                            type="button"
                            className="button-small button-danger-quiet"
                            aria-label={`Remove tag ${t.TagKey}`}
                            onClick={() => {
                              remove.clear();
                              setRemoving(t.TagKey);
                            }}
                          >
                            Remove
                          </button>
                        </div>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Part>
      {note ? (
        <p className="status-ok" role="status">
          {note}
        </p>
      ) : null}
      {manage ? (
        <form className="form inline-form" onSubmit={submit} aria-label="Set a tag">
          <div className="field-pair">
            <div className="field">
              <label htmlFor={`${id}-key`}>Tag key</label>
              <input
                ref={keyInput}
                id={`${id}-key`}
                value={tagKey}
                maxLength={TAG_KEY_MAX_LENGTH}
                onChange={(e) => {
                  setTagKey(e.target.value);
                  setNote(undefined);
                }}
                aria-invalid={problem !== undefined}
                aria-describedby={`${id}-hint`}
                autoComplete="off"
                spellCheck={false}
              />
            </div>
            <div className="field">
              <label htmlFor={`${id}-value`}>Tag value</label>
              <input id={`${id}-value`} value={tagValue} maxLength={TAG_VALUE_MAX_LENGTH} onChange={(e) => setTagValue(e.target.value)} autoComplete="off" />
            </div>
          </div>
          <p id={`${id}-hint`} className={problem ? 'hint status-error' : 'hint'}>
            {problem ?? (replaces ? `Saving replaces the value of ${tagKey}.` : 'Tags label keys for people and for policy conditions (aws:ResourceTag).')}
          </p>
          <div className="button-row">
            <button type="submit" disabled={save.busy || problem !== undefined || tagKey === ''}>
              {replaces ? 'Change tag' : 'Add tag'}
            </button>
          </div>
          {save.busy ? <Progress label="Saving the tag…" /> : null}
          <ErrorAlert error={save.error} context="The tag was not saved." />
        </form>
      ) : null}
      {removing !== undefined ? (
        <ConfirmDialog
          title={`Remove tag ${removing}?`}
          confirmLabel="Remove tag"
          busyLabel="Removing the tag…"
          busy={remove.busy}
          error={remove.error}
          danger
          onClose={() => setRemoving(undefined)}
          onConfirm={() => void confirmRemove()}
        >
          <p>Policies with conditions on this tag (aws:ResourceTag/{removing}) decide differently once it is gone.</p>
        </ConfirmDialog>
      ) : null}
    </Section>
  );
}
