import type { Child } from "hono/jsx";
import type { ErrorCode } from "../../lib/errors";
import { Layout } from "./layout";

/**
 * The pages a merchant sees: after connecting a shop or Facebook Pages, the shop's home page (which
 * says when a Facebook Page needs a new login), and when something went wrong. They take plain data and say what happened in
 * words; no error text from the code or a platform ever reaches them.
 */

/** How the copy of a shop's data went, as the merchant needs to know it. */
export type SyncOutcome =
  | { state: "done"; products: number }
  /** The first copy failed and was queued: it is retried without the merchant doing anything. */
  | { state: "queued" };

export interface ShopConnected {
  shop: string;
  userUuid: string;
  sync: SyncOutcome;
  /** Product webhooks registered (false: they are put back by the daily check). */
  webhooksOk: boolean;
  /** The shop was already linked to another account: it stayed there, only its token was refreshed. */
  otherAccount: boolean;
  /** Where to connect Facebook Pages to the same account (usually `/facebook/login`). */
  facebookLoginHref?: string;
}

function AccountLine(props: { userUuid: string }) {
  return (
    <p>
      Your account: <code class="id">{props.userUuid}</code>
      <br />
      <span class="muted">Keep this number if you contact support: it identifies your data.</span>
    </p>
  );
}

export function ShopConnectedPage(props: ShopConnected) {
  return (
    <Layout title={props.otherAccount ? "Shop reconnected" : "Shop connected"}>
      <div class="card">
        <p>
          <strong>{props.shop}</strong> is connected.
        </p>
        <AccountLine userUuid={props.userUuid} />
      </div>
      {props.otherAccount ? (
        <p class="notice" role="note">
          This shop was already connected to another account, so it stays with that account and its data stays where it
          was. We only renewed its access. If it should belong to this account, ask support to move it.
        </p>
      ) : null}
      <h2>What is syncing</h2>
      <ul>
        {props.sync.state === "done" ? (
          <li>
            Your shop details and {props.sync.products} {props.sync.products === 1 ? "product are" : "products are"}{" "}
            copied.
          </li>
        ) : (
          <li>
            Your products could not be copied just now. We try again in a few minutes by ourselves: there is nothing to
            do on your side.
          </li>
        )}
        <li>
          {props.webhooksOk
            ? "Product changes in your shop are copied as they happen."
            : "Product changes will be copied as they happen once our daily check has set this up again."}
        </li>
        <li>Everything is checked again once a day.</li>
      </ul>
      {props.facebookLoginHref ? (
        <p>
          <a class="button" href={props.facebookLoginHref}>
            Connect your Facebook Pages
          </a>
        </p>
      ) : null}
    </Layout>
  );
}

export interface ShopHome {
  shop: string;
  userUuid: string;
  /** Products in the last good sync; null when none finished yet. */
  productCount: number | null;
  /** When the shop's products were last copied (ms); null when no sync finished yet. */
  lastSyncAt: number | null;
  /** Facebook Pages linked to the same account; `needsLogin`: its token was refused or removed. */
  pages: { id: string; name: string | null; needsLogin: boolean }[];
  facebookLoginHref: string;
}

/**
 * A Facebook Page whose token Meta refused (or that lost its token): nothing of it is saved until
 * the merchant logs in with Facebook again from `href` and grants the page.
 */
function ReconnectNotice(props: { page: { id: string; name: string | null }; href: string }) {
  return (
    <div class="notice problem" role="alert">
      <p>
        We can no longer reach <strong>{props.page.name ?? `Facebook Page ${props.page.id}`}</strong>: its access was
        withdrawn or has expired. Its messages are not saved until you connect it again. What was saved is kept.
      </p>
      <p>
        <a class="button" href={props.href}>
          Reconnect with Facebook
        </a>
      </p>
      <p class="muted">Facebook will ask you to choose your pages again: pick this page.</p>
    </div>
  );
}

/**
 * The merchant's page for an installed, healthy shop (the app URL opened from Shopify's admin):
 * which shop and account this is, how far the catalogue sync got, the linked Facebook Pages and
 * which of them need a new Facebook login.
 */
export function ShopHomePage(props: ShopHome) {
  const synced = props.lastSyncAt === null ? null : new Date(props.lastSyncAt).toISOString();
  return (
    <Layout title={props.shop}>
      <div class="card">
        <p>The app is installed and your products are kept up to date.</p>
        <AccountLine userUuid={props.userUuid} />
      </div>
      {props.pages
        .filter((p) => p.needsLogin)
        .map((p) => (
          <ReconnectNotice page={p} href={props.facebookLoginHref} />
        ))}
      <dl>
        <dt>Products</dt>
        <dd>{props.productCount === null ? "not synced yet" : String(props.productCount)}</dd>
        <dt>Last copied</dt>
        <dd>
          {synced === null ? (
            "not yet"
          ) : (
            <time datetime={synced}>{`${synced.slice(0, 16).replace("T", " ")} UTC`}</time>
          )}
        </dd>
        <dt>Facebook Pages</dt>
        <dd>
          {props.pages.length ? (
            <ul>
              {props.pages.map((p) => (
                <li>
                  {p.name ?? p.id}: {p.needsLogin ? "needs a new Facebook login" : "connected"}
                </li>
              ))}
            </ul>
          ) : (
            "none connected yet"
          )}
        </dd>
      </dl>
      <p>
        <a class="button" href={props.facebookLoginHref}>
          {props.pages.length ? "Connect more Facebook Pages" : "Connect your Facebook Pages"}
        </a>
      </p>
    </Layout>
  );
}

export interface PagesConnected {
  userUuid: string;
  pages: {
    id: string;
    name: string | null;
    /** Linked to another account before: it stayed there, only its token was refreshed. */
    otherAccount: boolean;
    /** The page's details could not be saved just now and were queued. */
    queued?: boolean;
  }[];
}

export function PagesConnectedPage(props: PagesConnected) {
  const others = props.pages.filter((p) => p.otherAccount);
  const one = props.pages.length === 1;
  return (
    <Layout title={one ? "Facebook Page connected" : "Facebook Pages connected"}>
      <div class="card">
        <p>
          {props.pages.length} {one ? "page is" : "pages are"} connected. Messages your customers send{" "}
          {one ? "it" : "them"} are saved from now on.
        </p>
        <AccountLine userUuid={props.userUuid} />
      </div>
      <div class="scroll">
        <table>
          <caption>Connected pages</caption>
          <thead>
            <tr>
              <th scope="col">Page</th>
              <th scope="col">Page id</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {props.pages.map((p) => (
              <tr>
                <td>{p.name ?? "(no name)"}</td>
                <td>
                  <code class="id whole">{p.id}</code>
                </td>
                <td>
                  {p.otherAccount
                    ? "Belongs to another account"
                    : p.queued
                      ? "Connected; details are saved in a few minutes"
                      : "Connected"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {others.length ? (
        <p class="notice" role="note">
          {others.length === 1 ? "One page was" : `${others.length} pages were`} already connected to another account,
          so {others.length === 1 ? "it stays" : "they stay"} with that account and{" "}
          {others.length === 1 ? "its data stays" : "their data stays"} where it was. We only renewed the access. If{" "}
          {others.length === 1 ? "it" : "they"} should belong to this account, ask support to move{" "}
          {others.length === 1 ? "it" : "them"}.
        </p>
      ) : null}
    </Layout>
  );
}

export interface ErrorView {
  title: string;
  message: string;
  action?: { href: string; label: string };
}

/** A friendly error page: what happened and what to do, never an error's own text. */
export function ErrorPage(props: ErrorView & { status: number; children?: Child }) {
  return (
    <Layout title={props.title}>
      <p class="notice problem" role="alert">
        {props.message}
      </p>
      {props.action ? (
        <p>
          <a class="button" href={props.action.href}>
            {props.action.label}
          </a>
        </p>
      ) : null}
      {props.children}
      <p class="muted">Error {props.status}</p>
    </Layout>
  );
}

/**
 * The words of the error page for an error code on a path: chosen from the code and the kind of
 * route only, so no message built from a platform's answer, a stack or a secret can show.
 */
export function errorView(code: ErrorCode | "not_found", path: string): ErrorView {
  if (path === "/admin" || path.startsWith("/admin/")) return consoleErrorView(code);
  const shopify = path.startsWith("/shopify");
  const facebook = path.startsWith("/facebook");
  const start = shopify
    ? { href: "https://admin.shopify.com/", label: "Open your Shopify admin" }
    : facebook
      ? { href: "/facebook/login", label: "Connect with Facebook again" }
      : undefined;
  const again = shopify
    ? "Please start again from the app in your Shopify admin."
    : facebook
      ? "Please start the Facebook connection again."
      : "Please try again.";
  switch (code) {
    case "not_found":
      return { title: "Page not found", message: "There is no page at this address." };
    case "bad_request":
      return {
        title: "That link did not work",
        message: `Something in the address was missing or not valid. ${again}`,
        action: start,
      };
    case "unauthorized":
      return {
        title: "We could not check this request",
        message: `The link was not signed as we expect, or it is too old. ${again}`,
        action: start,
      };
    case "forbidden":
      return {
        title: "This link has expired",
        message: `Connection links work once, for a few minutes, in the browser that started them. ${again}`,
        action: start,
      };
    case "payload_too_large":
    case "unsupported_media_type":
    case "conflict":
      return { title: "We could not accept this request", message: again, action: start };
    case "upstream_error":
    case "unavailable":
      return {
        title: shopify
          ? "Shopify did not answer as expected"
          : facebook
            ? "Facebook did not answer as expected"
            : "A service is not answering",
        message: `Nothing was changed. This is usually brief: ${again.charAt(0).toLowerCase()}${again.slice(1)}`,
        action: start,
      };
    default:
      return {
        title: "Something went wrong on our side",
        message: `Nothing you did caused this, and we have been told. ${again}`,
        action: start,
      };
  }
}

function consoleErrorView(code: ErrorCode | "not_found"): ErrorView {
  const back = { href: "/admin", label: "Back to the console" };
  switch (code) {
    case "not_found":
      return { title: "Page not found", message: "There is no console page at this address.", action: back };
    case "unauthorized":
      return { title: "Not signed in", message: "That admin token is not right.", action: back };
    case "forbidden":
      return {
        title: "This form has expired",
        message: "The form was older than your sign-in, or came from another page. Reload the console and try again.",
        action: back,
      };
    default:
      return { title: "The console could not do that", message: "Nothing was changed. Try again.", action: back };
  }
}
