import { basicAuthorization, challengeParams, fetchToken } from "../auth/bearer.js";
import { sha256 } from "../http/requests.js";
import { layoutBytes, MediaTypes, type TestImage } from "../images/test-images.js";
import type { Credentials } from "../types.js";

// Small writes to a registry over raw HTTP, where a skopeo run would be too slow (moving a tag
// while a TTL runs) or cannot express the content (an OCI 1.1 artifact with a subject).

export interface WriteTarget {
  /** Base URL of the registry, e.g. upstream.url. */
  url: string;
  /** Absent for a registry that takes anonymous pushes (wharf). */
  creds?: Credentials;
}

/**
 * The Authorization header for pushing to `repo`: Bearer from the registry's token realm, Basic,
 * or none for anonymous pushes.
 */
async function pushAuthorization(target: WriteTarget, repo: string): Promise<Record<string, string>> {
  if (!target.creds) return {};
  const probe = await fetch(`${target.url}/v2/`);
  await probe.arrayBuffer();
  const challenge = probe.headers.get("www-authenticate") ?? "";
  if (!/^bearer /i.test(challenge)) return { authorization: basicAuthorization(target.creds) };
  const { realm = "", service = "" } = challengeParams(challenge);
  const token = await fetchToken({ realm, service }, [`repository:${repo}:pull,push`], target.creds);
  return { authorization: `Bearer ${token}` };
}

async function expect(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) throw new Error(`${what} answered ${res.status}: ${await res.text()}`);
  return res;
}

async function putManifest(
  target: WriteTarget,
  repo: string,
  ref: string,
  body: Buffer,
  mediaType: string,
  authorization: Record<string, string>,
): Promise<void> {
  const url = `${target.url}/v2/${repo}/manifests/${ref}`;
  const res = await expect(
    await fetch(url, { method: "PUT", headers: { "content-type": mediaType, ...authorization }, body }),
    201,
    `PUT ${url}`,
  );
  const served = res.headers.get("docker-content-digest");
  if (served !== sha256(body))
    throw new Error(`PUT ${url}: registry says ${served}, expected ${sha256(body)}`);
}

/**
 * Points `repo:tag` at `image` (already pushed to that repository, e.g. under another tag) with one
 * manifest PUT: a tag move that takes milliseconds, so tests of tag TTLs can time it.
 */
export async function retag(target: WriteTarget, repo: string, tag: string, image: TestImage): Promise<void> {
  const authorization = await pushAuthorization(target, repo);
  await putManifest(target, repo, tag, layoutBytes(image, image.digest), image.mediaType, authorization);
}

export interface Referrer {
  digest: string;
  size: number;
  artifactType: string;
  bytes: Buffer;
}

/**
 * Pushes an OCI 1.1 artifact (a signature-like manifest: empty config, one small layer) whose
 * `subject` is `subject`, tagged `tag` in `repo`. Returns its descriptor as a referrers index lists it.
 */
export async function pushReferrer(
  target: WriteTarget,
  repo: string,
  tag: string,
  subject: { mediaType: string; digest: string; size: number },
  artifactType = "application/vnd.wharf.test.signature",
): Promise<Referrer> {
  const authorization = await pushAuthorization(target, repo);
  const empty = Buffer.from("{}");
  const payload = Buffer.from(`wharf test signature of ${subject.digest}\n`);
  for (const blob of [empty, payload]) {
    const start = await expect(
      await fetch(`${target.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: authorization }),
      202,
      "blob upload start",
    );
    const location = new URL(start.headers.get("location") ?? "", target.url);
    location.searchParams.set("digest", sha256(blob));
    await expect(
      await fetch(location, {
        method: "PUT",
        headers: { ...authorization, "content-type": "application/octet-stream" },
        body: blob,
      }),
      201,
      "blob upload",
    );
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType,
    config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(empty), size: empty.length },
    layers: [{ mediaType: "text/plain", digest: sha256(payload), size: payload.length }],
    subject,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  await putManifest(target, repo, tag, bytes, MediaTypes.ociManifest, authorization);
  return { digest: sha256(bytes), size: bytes.length, artifactType, bytes };
}
