/**
 * The frame of every page: its <h1>, which takes focus when a link opened the page (so keyboard
 * and screen-reader users start at the new content), and the document title.
 */
import { useEffect, useRef, type ReactElement, type ReactNode } from 'react';
import { useNavigationType } from 'react-router';
import { printableJson } from '../../../src/core/caller-text.js';

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }): ReactElement {
  const heading = useRef<HTMLHeadingElement>(null);
  // Only when the reader followed a link: the first page after sign-in (or a reload) leaves focus
  // at the top, where Tab reaches the skip link first.
  const followedLink = useNavigationType() === 'PUSH';
  useEffect(() => {
    // Outside JSX, so not escaped by console/src/shown-text: a key's page is titled by caller text.
    document.title = `${printableJson(title)} · hsmkms console`;
  }, [title]);
  useEffect(() => {
    if (followedLink) heading.current?.focus({ preventScroll: true });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- on arrival only
  }, []);
  return (
    <>
      <div className="page-header">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
      {children}
    </>
  );
}

/** A titled part of a page, as a labelled region. */
export function Section({ id, title, children, actions }: { id: string; title: string; children: ReactNode; actions?: ReactNode }): ReactElement {
  return (
    <section className="section" aria-labelledby={`${id}-title`} id={id}>
      <div className="section-header">
        <h2 id={`${id}-title`}>{title}</h2>
        {actions ? <div className="section-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}
