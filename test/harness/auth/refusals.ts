// What the real clients print when wharf refuses them, anchored to the end of their error line:
// the words of the answer itself, so that a pull failing for another reason (a digest or a port
// holding "401", a network error mentioning "denied") does not pass for a refusal.

/**
 * 403 DENIED (a known user the rules refuse): the spec's message as every client repeats it, or
 * skopeo's `403 (Forbidden)` where the refused request was a HEAD, which has no body to quote.
 */
export const DENIED = /((^|: )denied: requested access to the resource is denied|: 403 \(Forbidden\))"?$/m;

/**
 * 401 (no credentials, or wrong ones): `unauthorized` with the reason wharf gave, podman's and
 * skopeo's `invalid username/password`, containerd's `401 Unauthorized`.
 */
export const UNAUTHORIZED =
  /: (unauthorized(: authentication required|: wrong user name or password)?|invalid username\/password(: unauthorized: wrong user name or password)?|401 Unauthorized)"?$/m;
