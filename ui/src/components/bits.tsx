import type { ComponentChildren } from "preact";
import type { ActivityEvent } from "../api.js";
import { formatAgo, formatBytes, formatTime } from "../format.js";
import { href } from "../router.js";

export function Stat(props: {
  label: string;
  value: string;
  sub?: ComponentChildren;
  children?: ComponentChildren;
}) {
  return (
    <div class="card stat">
      <div class="label">{props.label}</div>
      <div class="value">{props.value}</div>
      {props.sub ? <div class="sub">{props.sub}</div> : null}
      {props.children}
    </div>
  );
}

/** `used` against `cap`: the browser's own meter, turning to a warning colour near the cap. */
export function Meter(props: { used: number; cap: number; label: string }) {
  return (
    <meter
      min={0}
      max={props.cap}
      high={props.cap * 0.9}
      optimum={0}
      value={Math.min(props.used, props.cap)}
      aria-label={props.label}
      title={`${formatBytes(props.used)} of ${formatBytes(props.cap)}`}
    />
  );
}

export function Failure(props: { error: Error | undefined }) {
  return props.error ? (
    <p class="error" role="alert">
      {props.error.message}
    </p>
  ) : null;
}

const KIND_LABEL: Readonly<Record<ActivityEvent["kind"], string>> = {
  push: "push",
  "first-pull": "new",
  delete: "delete",
  eviction: "evicted",
  "login-refused": "login refused",
  prefetch: "prefetch",
};

export function ActivityList(props: { events: readonly ActivityEvent[] }) {
  if (props.events.length === 0) return <p class="note">Nothing has happened yet.</p>;
  return (
    <ul class="activity">
      {props.events.map((event) => (
        <li key={event.id}>
          <time class="when" dateTime={event.at} title={formatTime(event.at)}>
            {formatAgo(event.at)}
          </time>
          <span class="kind">{KIND_LABEL[event.kind]}</span>
          <span>
            {event.repository && event.name ? (
              <a href={href.image(event.repository, event.name, event.reference ?? "latest")}>
                {event.repository}/{event.name}
                {event.reference
                  ? event.reference.includes(":") && event.reference.startsWith("sha256")
                    ? `@${event.reference.slice(0, 19)}`
                    : `:${event.reference}`
                  : ""}
              </a>
            ) : (
              (event.repository ?? "")
            )}
            {event.user ? ` by ${event.user}` : ""}
            {event.count > 1 ? ` ×${event.count}` : ""}
            {event.bytes !== null ? ` (${formatBytes(event.bytes)})` : ""}
            {event.detail ? <span class="note"> {event.detail}</span> : null}
          </span>
        </li>
      ))}
    </ul>
  );
}
