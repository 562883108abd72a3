/**
 * A download of text made in the page (an issued certificate, its chain): a `blob:` URL of this
 * origin behind an `<a download>`, released when the link goes away. The CSP needs nothing for
 * it: a download is neither a fetch nor a script, and the blob never leaves the browser.
 */
import { useEffect, useState, type ReactElement, type ReactNode } from 'react';

export function DownloadLink({ text, fileName, type = 'application/x-pem-file', className, children }: { text: string; fileName: string; type?: string; className?: string; children: ReactNode }): ReactElement {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    const made = URL.createObjectURL(new Blob([text], { type }));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [text, type]);
  return (
    <a href={url} download={fileName} className={className ?? 'button-link'}>
      {children}
    </a>
  );
}
