/**
 * The one glob dialect of the configuration (access rules, cache pins): `*` matches within a
 * path segment, `**` across segments, every other character stands for itself.
 */
function globToRegExp(glob: string): RegExp {
  let pattern = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === "*" && glob[i + 1] === "*") {
      pattern += ".*";
      i++;
    } else if (char === "*") pattern += "[^/]*";
    else pattern += char.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${pattern}$`);
}

const compiled = new Map<string, RegExp>();

export function matchesGlob(glob: string, value: string): boolean {
  let regexp = compiled.get(glob);
  if (!regexp) {
    regexp = globToRegExp(glob);
    compiled.set(glob, regexp);
  }
  return regexp.test(value);
}
