/**
 * The console: sign-in until a session exists, then the shell (skip link, header with the
 * caller and sign-out, navigation, main) around the pages of the registry.
 */
import { Suspense, useCallback, useRef, useState, type ReactElement } from 'react';
import { BrowserRouter, Navigate, NavLink, Route, Routes, useNavigate } from 'react-router';
import { Page } from './components/page.js';
import { Progress } from './components/progress.js';
import { PAGES, type ConsolePage } from './pages/registry.js';
import { IdleSignOut } from './session/idle.js';
import { SessionContext, useSession, type Session } from './session/session.js';
import { SignIn } from './session/sign-in.js';

function Restricted({ page }: { page: ConsolePage }): ReactElement {
  const { identity } = useSession();
  if (page.visible && !page.visible(identity))
    return (
      <Page title="Not available">
        <p>{page.hiddenReason ?? 'This page is not available to your role.'}</p>
      </Page>
    );
  const Component = page.component;
  return <Component />;
}

function NotFound(): ReactElement {
  return (
    <Page title="Page not found">
      <p>
        There is no such page. <NavLink to="/keys">Go to the keys</NavLink>.
      </p>
    </Page>
  );
}

function Shell({ onSignOut }: { onSignOut: (notice?: string) => void }): ReactElement {
  const { identity, idleMinutes } = useSession();
  const navigate = useNavigate();
  const offered = PAGES.filter((p) => p.nav && (!p.visible || p.visible(identity)));
  const roles = identity.Root ? 'account root' : identity.Roles.join(', ');
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <span className="brand">hsmkms</span>
        <nav aria-label="Main" className="app-nav">
          <ul>
            {offered.map((p) => (
              <li key={p.path}>
                <NavLink to={`/${p.path}`}>{p.nav}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="whoami">
          <span className="whoami-name" title={identity.Arn}>
            {identity.UserName}
          </span>{' '}
          <span className="whoami-roles">({roles})</span>
          <button
            type="button"
            className="button-small"
            onClick={() => {
              onSignOut();
              navigate('/', { replace: true });
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <IdleSignOut
        minutes={idleMinutes}
        onIdle={() => {
          onSignOut(`You were signed out after ${idleMinutes} minute${idleMinutes === 1 ? '' : 's'} without activity; the credentials were dropped from this tab.`);
          navigate('/', { replace: true });
        }}
      />
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Progress label="Loading the page…" />}>
          <Routes>
            <Route index element={<Navigate to={offered[0] ? `/${offered[0].path}` : '/keys'} replace />} />
            {PAGES.map((p) => (
              <Route key={p.path} path={p.path} element={<Restricted page={p} />} />
            ))}
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
    </>
  );
}

function Console(): ReactElement {
  const [session, setSession] = useState<Session | null>(null);
  const [notice, setNotice] = useState<string>();
  const destroy = useRef<() => void>(() => {});
  const signOut = useCallback((why?: string) => {
    destroy.current();
    destroy.current = () => {};
    setSession(null);
    setNotice(why);
  }, []);
  if (!session)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(next, close) => {
          destroy.current = close;
          setNotice(undefined);
          setSession(next);
        }}
      />
    );
  return (
    <SessionContext.Provider value={session}>
      <Shell onSignOut={signOut} />
    </SessionContext.Provider>
  );
}

export function App(): ReactElement {
  return (
    <BrowserRouter basename="/console">
      <Console />
    </BrowserRouter>
  );
}
