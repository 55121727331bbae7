import { Layout } from "./layout";

export interface LoginPageRow {
  id: string;
  name: string | null;
  category: string | null;
  ownedByAnotherAccount: boolean;
}

/** What a Facebook login linked, for the merchant's browser; pages of another account are named. */
export function FacebookLoginPage(props: { pages: LoginPageRow[] }) {
  const foreign = props.pages.filter((p) => p.ownedByAnotherAccount);
  return (
    <Layout title="Facebook Pages connected">
      <ul>
        {props.pages.map((p) => (
          <li data-page={p.id}>
            {p.name ?? p.id}
            {p.category ? ` (${p.category})` : ""}
            {p.ownedByAnotherAccount
              ? " — belongs to another account: its access was refreshed, its data stays there"
              : ""}
          </li>
        ))}
      </ul>
      {foreign.length > 0 && (
        <p role="note">
          {foreign.length === 1 ? "One page belongs" : `${foreign.length} pages belong`} to another account and
          {foreign.length === 1 ? " was" : " were"} not added to yours. Ask its owner to connect it.
        </p>
      )}
    </Layout>
  );
}
