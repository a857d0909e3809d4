/** Events: the topics (Events.Topics), tailing one over the gateway's /events/{topic} WebSocket, and publishing. */
import { useEffect, useState } from "preact/hooks";
import { open, publish, rpc } from "../api";
import { ErrorBox, Page, time, useLoad } from "../ui";

interface Ev {
  id: string;
  topic: string;
  payload: unknown;
  timestamp: string;
  sequence?: number;
}

function Tail({ topic, from }: { topic: string; from: string }) {
  const [events, setEvents] = useState<Ev[]>([]);
  const [state, setState] = useState<{ live: boolean; error?: Error }>({ live: true });
  useEffect(() => {
    setEvents([]);
    setState({ live: true });
    return open(`events/${encodeURIComponent(topic)}?offset=${from}`, undefined, {
      item: (v) => setEvents((old) => [v as Ev, ...old].slice(0, 500)),
      end: (error) => setState({ live: false, ...(error ? { error } : {}) }),
    });
  }, [topic, from]);
  return (
    <div class="card">
      <h2>
        Tail <code>{topic}</code> {state.live ? <span class="badge ok">live</span> : <span class="badge na">closed</span>}
      </h2>
      <ErrorBox error={state.error} />
      <table class="grid" data-testid="events">
        <thead>
          <tr>
            <th>#</th>
            <th>Time</th>
            <th>Payload</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr>
              <td>{e.sequence ?? ""}</td>
              <td>{time(Date.parse(e.timestamp))}</td>
              <td>
                <code>{JSON.stringify(e.payload)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function EventsPage({ topic }: { topic: string | undefined }) {
  const topics = useLoad(async () => (await rpc<{ topics: string[] }>("events", "Events.Topics")).topics, []);
  const [from, setFrom] = useState("latest");
  const [payload, setPayload] = useState('{"hello":"world"}');
  const [error, setError] = useState<Error>();
  const send = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await publish(topic ?? "", JSON.parse(payload));
      topics.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Page title="Events" actions={<button onClick={topics.reload}>Refresh</button>}>
      <ErrorBox error={topics.error} />
      <div class="columns">
        <div class="card col">
          <h2>Topics</h2>
          <ul class="pick">
            {(topics.data ?? []).map((t) => (
              <li class={t === topic ? "active" : ""}>
                <a href={`#/events/${encodeURIComponent(t)}`}>{t}</a>
              </li>
            ))}
          </ul>
          {topics.data?.length === 0 ? <p class="muted">No topics yet.</p> : null}
        </div>
        <div class="col wide">
          {topic ? (
            <>
              <div class="row">
                <label>
                  from{" "}
                  <select value={from} onChange={(e) => setFrom(e.currentTarget.value)}>
                    <option value="latest">now on</option>
                    <option value="earliest">the beginning</option>
                  </select>
                </label>
              </div>
              <Tail topic={topic} from={from} />
              <form class="card form" onSubmit={send}>
                <h2>Publish</h2>
                <textarea rows={3} spellcheck={false} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} />
                <button type="submit">Publish</button>
                <ErrorBox error={error} />
              </form>
            </>
          ) : (
            <p class="muted">Pick a topic to tail it.</p>
          )}
        </div>
      </div>
    </Page>
  );
}
