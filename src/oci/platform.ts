/** A platform as an index lists it and as `--platform os/arch[/variant]` names it. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** `linux/arm64/v8` → its parts; undefined unless it has two or three non-empty parts. */
export function parsePlatform(text: string): Platform | undefined {
  const parts = text.trim().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === "")) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
}

/** arm64 without a variant is v8, as containerd's platform matcher reads it. */
function variantOf(architecture: string, variant: unknown): string | undefined {
  if (typeof variant === "string" && variant !== "") return variant;
  return architecture === "arm64" ? "v8" : undefined;
}

/**
 * Whether an index entry's `platform` is the one wanted. A wanted platform without a variant
 * takes any variant of its architecture (`linux/arm` takes v6 and v7).
 */
export function platformMatches(
  wanted: Platform,
  listed: Readonly<Record<string, unknown>> | undefined,
): boolean {
  if (!listed || listed.os !== wanted.os || listed.architecture !== wanted.architecture) return false;
  if (wanted.variant === undefined) return true;
  return variantOf(wanted.architecture, wanted.variant) === variantOf(wanted.architecture, listed.variant);
}
