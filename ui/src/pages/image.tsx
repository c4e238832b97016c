import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { api, type ImageDetailBody } from "../api.js";
import { Failure } from "../components/bits.js";
import { CopyButton } from "../components/copy-button.js";
import { ACTIONS, RowAction, Table } from "../components/table.js";
import { useApi } from "../components/use-api.js";
import { formatAgo, formatBytes, formatCount, formatTime, shortDigest } from "../format.js";
import { href } from "../router.js";

type Platform = ImageDetailBody["platforms"][number];

function PlatformSection(props: { platform: Platform }) {
  const { platform } = props;
  const config = platform.config;
  return (
    <section class="card" aria-labelledby={`p-${platform.digest}`}>
      <h3 id={`p-${platform.digest}`}>{platform.platform ?? "platform not stated"}</h3>
      <dl class="facts">
        <dt>Digest</dt>
        <dd class="mono">{platform.digest}</dd>
        <dt>Size</dt>
        <dd>{formatBytes(platform.size)}</dd>
        {config ? (
          <>
            <dt>Created</dt>
            <dd>{formatTime(config.created)}</dd>
          </>
        ) : null}
      </dl>
      {!platform.stored ? <p class="note">Not pulled through wharf yet: only the index names it.</p> : null}
      {platform.layers.length > 0 ? (
        <Table
          caption={`Layers of ${platform.platform ?? platform.digest}`}
          columns={[{ label: "Layer" }, { label: "Size", num: true }]}
        >
          {platform.layers.map((layer) => (
            <tr key={layer.digest}>
              <td class="mono">
                {shortDigest(layer.digest)}
                {layer.stored ? "" : <span class="note"> (not stored)</span>}
              </td>
              <td class="num">{formatBytes(layer.size)}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      {config && Object.keys(config.labels).length > 0 ? (
        <details>
          <summary>Labels ({Object.keys(config.labels).length})</summary>
          <dl class="facts">
            {Object.entries(config.labels).map(([key, value]) => (
              <Fragment key={key}>
                <dt class="mono">{key}</dt>
                <dd>{value}</dd>
              </Fragment>
            ))}
          </dl>
        </details>
      ) : null}
      {config && config.history.length > 0 ? (
        <details>
          <summary>History ({config.history.length} steps)</summary>
          <ol>
            {config.history.map((step, i) => (
              <li key={i} class="mono">
                {step.createdBy ?? step.comment ?? "(no command)"}
                {step.emptyLayer ? <span class="note"> (no layer)</span> : null}
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </section>
  );
}

export function ImagePage(props: { repository: string; name: string; reference: string }) {
  const { repository, name, reference } = props;
  const image = useApi(() => api.image(repository, name, reference), [repository, name, reference]);
  const [message, setMessage] = useState<string | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const remove = async (what: string, label: string) => {
    if (!confirm(`Delete ${label}?`)) return;
    setError(undefined);
    try {
      await api.deleteImage(repository, name, what);
      setMessage(`Deleted ${label}.`);
      if (what.startsWith("sha256:") || what === reference) location.hash = href.repository(repository);
      else image.reload();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  const data = image.data;
  return (
    <>
      <div class="crumbs">
        <a href={href.overview()}>Overview</a> / <a href={href.repository(repository)}>{repository}</a> /{" "}
        {name}
      </div>
      <h1>
        {name}
        {reference.startsWith("sha256:") ? "" : `:${reference}`}
      </h1>
      <Failure error={image.error} />
      <Failure error={error} />
      {message ? (
        <p class="ok" role="status">
          {message}
        </p>
      ) : null}
      {data ? (
        <>
          <div class="grid">
            <div class="card">
              <dl class="facts">
                <dt>Digest</dt>
                <dd class="mono">{data.digest}</dd>
                <dt>Kind</dt>
                <dd>
                  {data.kind} <span class="note mono">{data.mediaType}</span>
                </dd>
                <dt>Size</dt>
                <dd>{formatBytes(data.size)}</dd>
                <dt>Platforms</dt>
                <dd>{data.platforms.map((p) => p.platform ?? "?").join(", ") || "–"}</dd>
                <dt>Pushed or fetched</dt>
                <dd>{formatTime(data.createdAt)}</dd>
                <dt>Last pulled</dt>
                <dd>
                  {formatAgo(data.lastPulledAt)} ({formatCount(data.pulls)} pulls)
                </dd>
                {data.repository !== repository ? (
                  <>
                    <dt>Held by</dt>
                    <dd>{data.repository}</dd>
                  </>
                ) : null}
              </dl>
            </div>
          </div>
          <h2>Pull it</h2>
          <div class="card">
            {data.pull.map((pull) => (
              <div class="pull" key={pull.client}>
                <span class="client">{pull.client}</span>
                <pre data-client={pull.client}>{pull.command}</pre>
                <CopyButton text={pull.command} label={`Copy the ${pull.client} command`} />
                {pull.note ? (
                  <span class="note" style={{ gridColumn: "1 / -1" }}>
                    {pull.note}
                  </span>
                ) : null}
              </div>
            ))}
          </div>
          <h2>Tags</h2>
          {data.tags.length === 0 ? (
            <p class="note">No tag points at this image.</p>
          ) : (
            <Table
              columns={[
                { label: "Tag" },
                { label: "Updated", num: true },
                { label: "Last pulled", num: true },
                { label: "Pulls", num: true },
                data.canDelete && ACTIONS,
              ]}
            >
              {data.tags.map((tag) => (
                <tr key={tag.tag}>
                  <td>
                    <span class="tag">{tag.tag}</span>
                  </td>
                  <td class="num">{formatAgo(tag.updatedAt)}</td>
                  <td class="num">{formatAgo(tag.lastPulledAt)}</td>
                  <td class="num">{formatCount(tag.pulls)}</td>
                  {data.canDelete ? (
                    <td>
                      <RowAction
                        verb="Delete tag"
                        what={tag.tag}
                        onClick={() => remove(tag.tag, `the tag ${tag.tag}`)}
                      />
                    </td>
                  ) : null}
                </tr>
              ))}
            </Table>
          )}
          <h2>Platforms and layers</h2>
          <div class="grid">
            {data.platforms.map((platform) => (
              <PlatformSection key={platform.digest} platform={platform} />
            ))}
          </div>
          {data.referrers.length > 0 ? (
            <>
              <h2>Referrers</h2>
              <ul>
                {data.referrers.map((referrer) => (
                  <li key={referrer.digest} class="mono">
                    {referrer.artifactType ?? referrer.mediaType} {shortDigest(referrer.digest)} (
                    {formatBytes(referrer.size)})
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          <details>
            <summary>Manifest</summary>
            <pre>{JSON.stringify(data.manifest, null, 2)}</pre>
          </details>
          {data.canDelete ? (
            <p>
              <button
                type="button"
                class="danger"
                onClick={() => remove(data.digest, `the manifest ${shortDigest(data.digest)} and its tags`)}
              >
                Delete this image
              </button>
            </p>
          ) : null}
        </>
      ) : null}
    </>
  );
}
