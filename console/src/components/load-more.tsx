/** The "Load more" button of a list paged with Truncated/NextMarker, shown while there is more. */
import type { ReactElement } from 'react';

export function LoadMore({ page, what, onMore }: { page: { Truncated?: boolean | undefined; NextMarker?: string | undefined } | undefined; what: string; onMore: (marker: string) => void }): ReactElement | null {
  const marker = page?.Truncated ? page.NextMarker : undefined;
  if (!marker) return null;
  return (
    <button type="button" onClick={() => onMore(marker)}>
      Load more {what}
    </button>
  );
}
