import { fetchToken } from "./bearer.js";
import { layoutBytes, type TestImage } from "./images.js";
import type { Credentials } from "./types.js";

export interface RetagTarget {
  /** Base URL of the registry, e.g. upstream.url. */
  url: string;
  creds: Credentials;
}

function challengeParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1] as string] = m[2] as string;
  return params;
}

/**
 * Points `repo:tag` at `image` (already pushed to the registry, e.g. under another tag) with one
 * manifest PUT: a tag move that takes milliseconds, not a skopeo run, so tests of tag TTLs can
 * time it. Speaks the registry's Bearer (token server) or Basic auth.
 */
export async function retag(target: RetagTarget, repo: string, tag: string, image: TestImage): Promise<void> {
  const url = `${target.url}/v2/${repo}/manifests/${tag}`;
  const body = layoutBytes(image, image.digest);
  const put = (authorization?: string) =>
    fetch(url, {
      method: "PUT",
      headers: { "content-type": image.mediaType, ...(authorization ? { authorization } : {}) },
      body,
    });
  let res = await put();
  if (res.status === 401) {
    const challenge = res.headers.get("www-authenticate") ?? "";
    const { username, password } = target.creds;
    let authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    if (/^bearer /i.test(challenge)) {
      const { realm = "", service = "" } = challengeParams(challenge);
      authorization = `Bearer ${await fetchToken({ realm, service }, [`repository:${repo}:pull,push`], target.creds)}`;
    }
    await res.arrayBuffer();
    res = await put(authorization);
  }
  if (res.status !== 201) throw new Error(`PUT ${url} answered ${res.status}: ${await res.text()}`);
  const served = res.headers.get("docker-content-digest");
  if (served !== image.digest)
    throw new Error(`PUT ${url}: registry says ${served}, expected ${image.digest}`);
}
