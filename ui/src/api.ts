import type {
  ActivityBody,
  ApiTokenBody,
  CallerBody,
  ImageDetailBody,
  ImagePageBody,
  ImageSort,
  JobBody,
  PruneResultBody,
  RepositoryBody,
  RepositoryListBody,
  SeriesBody,
  UserBody,
} from "../../src/http/admin/schemas.js";

export type {
  ActivityBody,
  ApiTokenBody,
  CallerBody,
  ImageDetailBody,
  ImagePageBody,
  ImageSort,
  JobBody,
  PruneResultBody,
  RepositoryBody,
  RepositoryListBody,
  SeriesBody,
  UserBody,
};
export type ImageSummary = ImagePageBody["images"][number];
export type ActivityEvent = ActivityBody["events"][number];

const BASE = "/api/v1";

/** An answer other than success, with the API's message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The session's CSRF token, learnt from GET/POST /session; sent on every request that changes something. */
let csrfToken: string | undefined;

/** Told when the server says the caller is no longer logged in, so the page can show the login. */
let onUnauthorized: () => void = () => {};

export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers,
    credentials: "same-origin",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const parsed: unknown = text === "" ? undefined : JSON.parse(text);
  if (!response.ok) {
    const first = (parsed as { errors?: Array<{ code?: string; message?: string }> } | undefined)
      ?.errors?.[0];
    if (response.status === 401 && path !== "/session") onUnauthorized();
    throw new ApiError(response.status, first?.code ?? "UNKNOWN", first?.message ?? response.statusText);
  }
  return parsed as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

const remember = (caller: CallerBody): CallerBody => {
  csrfToken = caller.csrfToken;
  return caller;
};

export const api = {
  session: async () => remember(await call<CallerBody>("GET", "/session")),
  login: async (username: string, password: string) =>
    remember(await call<CallerBody>("POST", "/session", { username, password })),
  logout: async () => remember(await call<CallerBody>("DELETE", "/session")),
  repositories: () => call<RepositoryListBody>("GET", "/repositories"),
  repository: (name: string) => call<RepositoryBody>("GET", `/repositories/${encodeURIComponent(name)}`),
  images: (
    repository: string,
    params: {
      q?: string;
      sort?: ImageSort;
      order?: "asc" | "desc";
      tagged?: string;
      platform?: string;
      offset?: number;
      limit?: number;
    },
  ) => call<ImagePageBody>("GET", `/repositories/${encodeURIComponent(repository)}/images${query(params)}`),
  image: (repository: string, name: string, reference: string) =>
    call<ImageDetailBody>(
      "GET",
      `/repositories/${encodeURIComponent(repository)}/image${query({ name, reference })}`,
    ),
  deleteImage: (repository: string, name: string, reference: string) =>
    call<{ deleted: string }>(
      "DELETE",
      `/repositories/${encodeURIComponent(repository)}/image${query({ name, reference })}`,
    ),
  prefetch: (repository: string, name: string, reference: string) =>
    call<JobBody>("POST", `/repositories/${encodeURIComponent(repository)}/prefetch`, { name, reference }),
  job: (id: string) => call<JobBody>("GET", `/jobs/${encodeURIComponent(id)}`),
  series: (range: "day" | "month", repository?: string) =>
    call<SeriesBody>("GET", `/series${query({ range, repository })}`),
  activity: (limit = 20) => call<ActivityBody>("GET", `/activity${query({ limit })}`),
  prune: (dryRun: boolean) => call<PruneResultBody>("POST", "/prune", { dryRun }),
  users: () => call<{ users: UserBody[] }>("GET", "/users"),
  saveUser: (user: { name: string; password?: string; admin: boolean; groups: string[] }) =>
    call<{ user: UserBody; password: string | null }>("POST", "/users", user),
  deleteUser: (name: string) => call<{ users: UserBody[] }>("DELETE", `/users/${encodeURIComponent(name)}`),
  tokens: () => call<{ tokens: ApiTokenBody[] }>("GET", "/tokens"),
  createToken: (token: { user: string; description: string; expiresInDays?: number }) =>
    call<{ token: ApiTokenBody; secret: string }>("POST", "/tokens", token),
  revokeToken: (id: string) => call<ApiTokenBody>("DELETE", `/tokens/${encodeURIComponent(id)}`),
};
