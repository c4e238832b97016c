import { tryParseDigest } from "./digest.js";
import { DOCKER_HUB_HOSTS } from "./docker-hub.js";
import { isValidName, isValidTag } from "./names.js";

/**
 * An image as people write it: `alpine:3.19`, `docker.io/library/alpine:3.19`,
 * `ghcr.io/org/app:1`, `docker-hub/library/alpine@sha256:…`.
 */
export interface ImageReference {
  /**
   * The registry the reference names (`docker.io`, `ghcr.io`, `127.0.0.1:5001`); absent when the
   * first component is no host, and the whole path is a name on the registry asked.
   */
  readonly registry?: string;
  /** The repository path on that registry: `library/alpine`, `org/app`, `docker-hub/library/alpine`. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: string;
}

export class ImageReferenceError extends Error {
  constructor(text: string, reason: string) {
    super(`"${text}" is not an image reference: ${reason}`);
    this.name = "ImageReferenceError";
  }
}

/** A host name or address, with an optional port: `ghcr.io`, `127.0.0.1:5001`, `[::1]:5000`. */
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

/** Docker's rule: the first component names a registry when it has a dot or a port, or is localhost. */
function isRegistryHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

/** What the manifest is asked for by: the digest when there is one (it pins the content), else the tag. */
export function manifestReference(image: ImageReference): string {
  return image.digest ?? image.tag ?? "latest";
}

/** `registry/name:tag@digest` back as text, with the tag `latest` a reference without one stands for. */
export function formatImageReference(image: ImageReference): string {
  const tag = image.tag ?? (image.digest ? undefined : "latest");
  return `${image.registry ? `${image.registry}/` : ""}${image.name}${tag ? `:${tag}` : ""}${image.digest ? `@${image.digest}` : ""}`;
}

/**
 * Parses an image reference. A bare Docker Hub name gets its `library/` (`docker.io/alpine` is
 * `docker.io/library/alpine`), as docker and containerd do; without a registry the name is kept
 * as written, for the registry asked to resolve (wharf: a repository prefix or its default).
 */
export function parseImageReference(text: string): ImageReference {
  const trimmed = text.trim();
  if (trimmed === "") throw new ImageReferenceError(text, "it is empty");
  const at = trimmed.indexOf("@");
  const digest = at < 0 ? undefined : trimmed.slice(at + 1);
  if (digest !== undefined && !tryParseDigest(digest))
    throw new ImageReferenceError(text, "the digest is invalid");
  const beforeDigest = at < 0 ? trimmed : trimmed.slice(0, at);
  const components = beforeDigest.split("/");
  const registry =
    components.length > 1 && isRegistryHost(components[0] as string) ? components.shift() : undefined;
  if (registry !== undefined && !HOST.test(registry)) {
    throw new ImageReferenceError(text, `"${registry}" is not a registry host`);
  }
  let path = components.join("/");
  // A colon after the last slash is the tag's: one before it belongs to a registry's port.
  const colon = path.lastIndexOf(":");
  const tag = colon < 0 ? undefined : path.slice(colon + 1);
  if (colon >= 0) path = path.slice(0, colon);
  if (tag !== undefined && !isValidTag(tag)) throw new ImageReferenceError(text, "the tag is invalid");
  if (registry !== undefined && DOCKER_HUB_HOSTS.includes(registry.toLowerCase()) && !path.includes("/")) {
    path = `library/${path}`;
  }
  if (!isValidName(path)) throw new ImageReferenceError(text, `"${path}" is not a repository name`);
  return {
    ...(registry === undefined ? {} : { registry }),
    name: path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}
