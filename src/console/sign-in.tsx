import { Layout } from "../http/pages/layout";

/** The console's sign-in form: the operator pastes the worker's ADMIN_TOKEN. */
export function SignInPage(props: { csrf: string; problem?: "wrong_token" | "too_many" | "signed_out" }) {
  return (
    <Layout title="Operator console: sign in">
      {props.problem === "wrong_token" ? (
        <p class="notice problem" role="alert">
          That admin token is not right.
        </p>
      ) : props.problem === "too_many" ? (
        <p class="notice problem" role="alert">
          Too many wrong tokens from here. Wait a quarter of an hour, then try again.
        </p>
      ) : props.problem === "signed_out" ? (
        <p class="notice" role="status">
          You are signed out.
        </p>
      ) : null}
      <form method="post" action="/admin/sign-in">
        <input type="hidden" name="csrf" value={props.csrf} />
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required />
        <p class="muted">The ADMIN_TOKEN secret of this worker (in .dev.vars locally). A sign-in lasts an hour.</p>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
