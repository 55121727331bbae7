import type { Deletion } from "../../db/facebook-deletions";
import { Layout } from "./layout";

const STEPS: Record<Deletion["status"], string> = {
  received: "Received: your request is queued and will be carried out shortly.",
  in_progress: "In progress: your data is being deleted.",
  done: "Done: everything this app held from your Facebook account has been deleted.",
};

/** The status of a Data Deletion Request, for the person who asked (what was deleted, counted). */
export function DataDeletionPage(props: { deletion: Deletion }) {
  const d = props.deletion;
  return (
    <Layout title="Data deletion request">
      <p>
        Confirmation code: <code>{d.code}</code>
      </p>
      <p data-status={d.status}>{STEPS[d.status]}</p>
      <dl>
        <dt>Received</dt>
        <dd>{new Date(d.requestedAt).toISOString()}</dd>
        <dt>Last update</dt>
        <dd>{new Date(d.updatedAt).toISOString()}</dd>
        <dt>Facebook Pages</dt>
        <dd data-count="pages">{d.pages}</dd>
        <dt>Access tokens deleted</dt>
        <dd data-count="tokens">{d.tokensDeleted}</dd>
        <dt>Conversations deleted</dt>
        <dd data-count="conversations">{d.conversationsForgotten}</dd>
        <dt>Stored files deleted</dt>
        <dd data-count="objects">{d.objectsDeleted}</dd>
      </dl>
    </Layout>
  );
}
