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

/** An event's image, as a link when it names one the caller can open. */
function Subject(props: { event: ActivityEvent }) {
  const { repository, name, reference } = props.event;
  if (!repository || !name) return <>{repository ?? ""}</>;
  const shown = reference ? (reference.includes(":") ? `@${reference.slice(0, 19)}…` : `:${reference}`) : "";
  // A deleted or evicted image has no page any more.
  const gone = props.event.kind === "delete" || props.event.kind === "eviction";
  const label = `${repository}/${name}${shown}`;
  return gone || !reference ? (
    <span class="mono">{label}</span>
  ) : (
    <a href={href.image(repository, name, reference)}>{label}</a>
  );
}

function sentence(event: ActivityEvent) {
  const by = event.user ? ` by ${event.user}` : "";
  switch (event.kind) {
    case "login-refused":
      return (
        <>
          login refused for <strong>{event.user ?? "(no name)"}</strong>
          {event.detail ? ` (${event.detail})` : ""}
          {event.count > 1 ? `, ${event.count} times` : ""}
        </>
      );
    case "eviction":
      return (
        <>
          <Subject event={event} /> evicted{event.bytes !== null ? `, ${formatBytes(event.bytes)} freed` : ""}
          {event.detail ? ` (${event.detail})` : ""}
        </>
      );
    case "first-pull":
      return (
        <>
          <Subject event={event} /> fetched from upstream{by}
        </>
      );
    case "push":
      return (
        <>
          <Subject event={event} /> pushed{by}
        </>
      );
    case "delete":
      return (
        <>
          <Subject event={event} /> deleted{by}
        </>
      );
    case "prefetch":
      return (
        <>
          <Subject event={event} /> prefetched{by}
          {event.bytes !== null ? `, ${formatBytes(event.bytes)}` : ""}
        </>
      );
  }
}

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
          <span>{sentence(event)}</span>
        </li>
      ))}
    </ul>
  );
}
