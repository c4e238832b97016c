import { useEffect, useState } from "preact/hooks";
import { api, type CallerBody, whenUnauthorized } from "./api.js";
import { AccountsPage } from "./pages/accounts.js";
import { ImagePage } from "./pages/image.js";
import { LoginPage } from "./pages/login.js";
import { OverviewPage } from "./pages/overview.js";
import { RepositoryPage } from "./pages/repository.js";
import { href, type Route, useRoute } from "./router.js";

function titleOf(route: Route): string {
  switch (route.page) {
    case "overview":
      return "Overview";
    case "repository":
      return route.repository;
    case "image":
      return `${route.name}`;
    case "accounts":
      return "Users and tokens";
    default:
      return "Not found";
  }
}

export function App() {
  const route = useRoute();
  const [caller, setCaller] = useState<CallerBody | undefined>();
  const [failure, setFailure] = useState<string | undefined>();
  useEffect(() => {
    api.session().then(setCaller, (error: Error) => setFailure(error.message));
    whenUnauthorized(() =>
      setCaller((previous) => (previous ? { ...previous, user: null, admin: false } : previous)),
    );
  }, []);
  useEffect(() => {
    document.title = `${titleOf(route)} · wharf`;
  }, [route]);
  if (failure)
    return (
      <main>
        <p class="error" role="alert">
          wharf did not answer: {failure}
        </p>
      </main>
    );
  if (!caller)
    return (
      <main>
        <p class="note">Loading…</p>
      </main>
    );
  if (caller.authEnabled && caller.user === null) return <LoginPage onLogin={setCaller} />;
  const logout = async () => setCaller(await api.logout());
  return (
    <>
      {/* A button, not a link: the page's own routes live in the URL's fragment. */}
      <button type="button" class="skip" onClick={() => document.getElementById("content")?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href={href.overview()}>
          <img src="/favicon.svg" alt="" width="22" height="22" />
          wharf
        </a>
        <nav aria-label="Main">
          <a href={href.overview()} aria-current={route.page === "overview" ? "page" : undefined}>
            Overview
          </a>
          {caller.admin && caller.authEnabled ? (
            <a href={href.accounts()} aria-current={route.page === "accounts" ? "page" : undefined}>
              Users and tokens
            </a>
          ) : null}
        </nav>
        {caller.user ? (
          <div class="who">
            <span>
              {caller.user}
              {caller.admin ? " (admin)" : ""}
            </span>
            <button type="button" onClick={logout}>
              Log out
            </button>
          </div>
        ) : null}
      </header>
      <main id="content" tabIndex={-1}>
        <Page route={route} caller={caller} />
      </main>
    </>
  );
}

function Page(props: { route: Route; caller: CallerBody }) {
  const { route, caller } = props;
  switch (route.page) {
    case "overview":
      return <OverviewPage caller={caller} />;
    case "repository":
      return <RepositoryPage repository={route.repository} params={route.params} />;
    case "image":
      return <ImagePage repository={route.repository} name={route.name} reference={route.reference} />;
    case "accounts":
      return <AccountsPage caller={caller} />;
    default:
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing at {route.path}. <a href={href.overview()}>Back to the overview</a>
          </p>
        </>
      );
  }
}
