import { useState } from "preact/hooks";
import { api, type CallerBody } from "../api.js";
import { Failure } from "../components/bits.js";
import { CopyButton } from "../components/copy-button.js";
import { ACTIONS, RowAction, Table } from "../components/table.js";
import { useApi } from "../components/use-api.js";
import { formatTime } from "../format.js";

function Users(props: { self: string | null }) {
  const users = useApi(() => api.users(), []);
  const [name, setName] = useState("");
  const [admin, setAdmin] = useState(false);
  const [groups, setGroups] = useState("");
  const [shown, setShown] = useState<{ name: string; password: string } | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const add = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const saved = await api.saveUser({
        name,
        admin,
        groups: groups
          .split(",")
          .map((g) => g.trim())
          .filter((g) => g !== ""),
      });
      if (saved.password) setShown({ name: saved.user.name, password: saved.password });
      setName("");
      setGroups("");
      setAdmin(false);
      users.reload();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  const remove = async (user: string) => {
    if (!confirm(`Delete the user ${user}, its tokens and sessions?`)) return;
    setError(undefined);
    try {
      await api.deleteUser(user);
      users.reload();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  return (
    <section aria-labelledby="users">
      <h2 id="users">Users</h2>
      <Failure error={users.error ?? error} />
      {shown ? (
        <p class="card" role="status">
          {shown.name}'s password, shown this once: <code>{shown.password}</code>{" "}
          <CopyButton text={shown.password} label={`Copy ${shown.name}'s password`} />
        </p>
      ) : null}
      {users.data ? (
        <Table
          columns={[{ label: "User" }, { label: "Groups" }, { label: "Created", narrow: true }, ACTIONS]}
        >
          {users.data.users.map((user) => (
            <tr key={user.name}>
              <td>
                {user.name}
                {user.admin ? <span class="tag">admin</span> : null}
              </td>
              <td>{user.groups.join(", ") || "–"}</td>
              <td class="hide-narrow">{formatTime(user.createdAt)}</td>
              <td>
                {user.name !== props.self ? (
                  <RowAction verb="Delete" what={user.name} onClick={() => remove(user.name)} />
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
      <form class="toolbar card" onSubmit={add} aria-label="Add a user">
        <label>
          New user
          <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Groups (comma-separated)
          <input name="groups" value={groups} onInput={(e) => setGroups(e.currentTarget.value)} />
        </label>
        <label style={{ flexDirection: "row", alignItems: "center" }}>
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} />{" "}
          administrator
        </label>
        <button type="submit" class="primary">
          Add with a generated password
        </button>
      </form>
    </section>
  );
}

function Tokens() {
  const tokens = useApi(() => api.tokens(), []);
  const [user, setUser] = useState("");
  const [description, setDescription] = useState("");
  const [days, setDays] = useState("");
  const [secret, setSecret] = useState<string | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const created = await api.createToken({
        user,
        description,
        ...(days === "" ? {} : { expiresInDays: Number(days) }),
      });
      setSecret(created.secret);
      setDescription("");
      tokens.reload();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  const revoke = async (id: string) => {
    if (!confirm(`Revoke the token ${id}?`)) return;
    try {
      await api.revokeToken(id);
      tokens.reload();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  return (
    <section aria-labelledby="tokens">
      <h2 id="tokens">API tokens</h2>
      <Failure error={tokens.error ?? error} />
      {secret ? (
        <p class="card" role="status">
          The new token, shown this once (use it as the user's password): <code>{secret}</code>{" "}
          <CopyButton text={secret} label="Copy the new token" />
        </p>
      ) : null}
      {tokens.data ? (
        <Table
          columns={[
            { label: "Token" },
            { label: "User" },
            { label: "State" },
            { label: "Scopes", narrow: true },
            { label: "Expires", narrow: true },
            ACTIONS,
          ]}
        >
          {tokens.data.tokens.map((token) => (
            <tr key={token.id}>
              <td>
                <span class="mono">{token.id}</span>
                <div class="note">{token.description}</div>
              </td>
              <td>{token.user}</td>
              <td>{token.state}</td>
              <td class="hide-narrow mono">
                {token.scopes
                  .map((s) => `${s.repositories.join("|")}/${s.names.join("|")}:${s.actions.join(",")}`)
                  .join(" ")}
              </td>
              <td class="hide-narrow">{token.expiresAt ? formatTime(token.expiresAt) : "never"}</td>
              <td>
                {token.state === "active" ? (
                  <RowAction verb="Revoke" what={token.id} onClick={() => revoke(token.id)} />
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
      ) : null}
      <form class="toolbar card" onSubmit={create} aria-label="Create an API token">
        <label>
          For user
          <input name="user" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        </label>
        <label>
          Description
          <input
            name="description"
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </label>
        <label>
          Expires after (days)
          <input
            name="days"
            type="number"
            min="1"
            value={days}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary">
          Create token
        </button>
      </form>
    </section>
  );
}

export function AccountsPage(props: { caller: CallerBody }) {
  if (!props.caller.admin) return <p>Only administrators manage users and tokens.</p>;
  return (
    <>
      <h1>Users and tokens</h1>
      <Users self={props.caller.user} />
      <Tokens />
    </>
  );
}
